"""Automate: account managers' know-how as guarded, previewable, undoable rules.

``rules/`` (spec, features, compile, evaluate), ``guardrails`` and ``conflicts`` (what may run),
``store`` (rule versions, runs, the action log), ``pipeline`` (preview, suggest, automatic runs,
approval, undo, backtest), ``monitor`` and ``plots`` (effectiveness). Connectors and notifications
live in ``connectors/`` and ``notify``.
"""
