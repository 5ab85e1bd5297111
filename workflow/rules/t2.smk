# Stage: t2 (rules added by its issue)
