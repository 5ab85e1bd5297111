# Stage: summaries (rules added by its issue)
