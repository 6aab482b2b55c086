"""CLI start-up time: ``spendlab --help``, ``spendlab version`` and a sub-command's help, each
a fresh process, against the floor of a bare ``python -c pass`` and ``python -c "import typer"``
(the CLI framework every command needs).

Usage: python bench/cli_startup.py [--runs 15]

Target (issue 13): ``spendlab --help`` and ``spendlab version`` under 0.5 s on the 2-core machine.
Heavy libraries (Ibis, DuckDB, pandas, JAX, SQLAlchemy, pydantic-settings) are imported only
inside the commands that use them.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CASES = {
    "python -c pass (floor)": [sys.executable, "-c", "pass"],
    "python -c 'import typer'": [sys.executable, "-c", "import typer"],
    "spendlab version": [sys.executable, "-m", "spendlab.cli.main", "version"],
    "spendlab --help": [sys.executable, "-m", "spendlab.cli.main", "--help"],
    "spendlab mmm --help": [sys.executable, "-m", "spendlab.cli.main", "mmm", "--help"],
    "spendlab rules --help": [sys.executable, "-m", "spendlab.cli.main", "rules", "--help"],
}


def timed(cmd: list[str], runs: int) -> list[float]:
    subprocess.run(cmd, capture_output=True, check=True)  # warm the file cache
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    print("| command | median s | min s | max s | runs |\n|---|---|---|---|---|")
    for name, cmd in CASES.items():
        t = timed(cmd, args.runs)
        med = statistics.median(t)
        print(f"| {name} | {med:.3f} | {min(t):.3f} | {max(t):.3f} | {args.runs} |")


if __name__ == "__main__":
    main()
