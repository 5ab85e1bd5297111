# Stage: sdss_data (rules added by its issue)
