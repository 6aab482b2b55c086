"""Entry point of the ``spendlab`` command. Exit codes: see :mod:`spendlab.cli.exit_codes`."""

from __future__ import annotations

from spendlab.core.cpu import use_cpu_cores

use_cpu_cores()  # before anything imports JAX: NUTS chains and campaign batches use every core

import typer  # noqa: E402

from spendlab import __version__  # noqa: E402
from spendlab.cli import app as app_cli  # noqa: E402
from spendlab.cli import attribution, data, mmm, plan, simulate  # noqa: E402
from spendlab.cli import rules as rules_cli  # noqa: E402

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
app_cli.register(app)
attribution.register(app)
mmm.register(app)
plan.register(app)
rules_cli.register(app)


@app.command()
def version() -> None:
    """Print the SpendLab version."""
    typer.echo(__version__)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
