# Stage: baselines (rules added by its issue)
