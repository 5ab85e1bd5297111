# Stage: plasticc_data (rules added by its issue)
