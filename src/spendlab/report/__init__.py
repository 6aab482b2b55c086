"""Reports: one-page PNG/PDF summaries (matplotlib) built from fitted models."""
