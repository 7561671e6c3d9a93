"""Training: the loop, checkpoints, schedules and sampling."""
