"""Measurement: what caused the outcomes (MMM, attribution, experiments, uplift, geo tests)."""
