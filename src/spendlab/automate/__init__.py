"""Automation: rules over ad entities, guardrails, the action log, connectors and alerts."""
