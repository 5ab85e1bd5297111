# Stage: convention (rules added by its issue)
