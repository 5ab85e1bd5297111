# Stage: download (rules added by its issue)
