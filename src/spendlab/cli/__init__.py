"""The ``spendlab`` command line: Typer commands, one module per domain, no business logic."""
