"""The worked example of docs/rules.md runs as written (paths moved to a temp folder)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_rules_doc_example_runs(tmp_path, capsys):
    text = (ROOT / "docs" / "rules.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", text, re.S)
    code = code.replace("/tmp/rules-demo-ws", str(tmp_path / "ws")).replace(
        "/tmp/rules-demo.db", str(tmp_path / "r.db")
    )
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        exec(compile(code, "docs/rules.md", "exec"), {})
    finally:
        os.chdir(cwd)
    assert "->" in capsys.readouterr().out
