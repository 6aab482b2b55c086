"""The scenario and frontier worked example in docs/planning.md runs and its assertions hold."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "planning.md"


def test_scenario_worked_example_runs():
    section = DOC.read_text().split("## Worked example: scenarios and the frontier", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(code, str(DOC), "exec"), {})
