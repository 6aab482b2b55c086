"""Entry point of the ``spendlab`` command. Exit codes: see :mod:`spendlab.cli.exit_codes`."""

from __future__ import annotations

import typer

from spendlab import __version__
from spendlab.cli import data, plan, simulate

app = typer.Typer(
    name="spendlab",
    help="SpendLab: decide where each marketing dollar goes, and prove it. "
    "Every command takes --json.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
data.register(app)
simulate.register(app)
plan.register(app)


@app.command()
def version() -> None:
    """Print the SpendLab version."""
    typer.echo(__version__)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
