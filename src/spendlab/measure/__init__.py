"""Measurement: what did each marketing dollar cause?

``mmm/``: the Bayesian marketing-mix model.
"""
