# Stage: figures (rules added by its issue)
