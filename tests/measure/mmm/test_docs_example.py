"""The worked example in docs/mmm.md runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest


@pytest.mark.slow
def test_docs_worked_example_runs(tmp_path, monkeypatch):
    text = (Path(__file__).parents[3] / "docs" / "mmm.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(code, "docs/mmm.md", "exec"), ns)
    s = ns["mmm"].summary()
    assert list(s["channel"]) == ["search", "social"]
    assert (tmp_path / "runs" / "first" / "posterior.npz").exists()
