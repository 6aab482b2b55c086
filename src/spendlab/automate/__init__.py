"""Automate: rules that turn account managers' know-how into guarded, previewable, undoable
bid / budget / status actions, exported to the ad platforms."""
