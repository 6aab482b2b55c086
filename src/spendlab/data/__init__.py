"""Data: the canonical schema, platform readers, data quality and the workspace warehouse."""
