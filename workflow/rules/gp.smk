# Stage: gp (rules added by its issue)
