"""Hypothesis fuzzing of the rule parser: whatever text or JSON arrives, ``parse_spec`` returns a
Rule or raises a SpendLab ``ValidationError`` whose issues each say what, where and how to fix,
and ``check_spec`` (what the API's validate route answers) never raises at all.

Inputs are the template rules with random edits (keys dropped, values replaced by arbitrary JSON,
unknown keys added), their YAML text with random characters edited, and arbitrary text.
Derandomized like the rest of the suite (tests/conftest.py); ``SPENDLAB_FUZZ=N`` explores N
random inputs per test instead.
"""

from __future__ import annotations

import copy
import os
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spendlab.automate.rules.spec import Rule
from spendlab.automate.specs import check_spec, parse_spec, templates
from spendlab.errors import ValidationError

EXAMPLES = int(os.environ.get("SPENDLAB_FUZZ", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
TEMPLATES = templates()
SPECS = [t["spec"] for t in TEMPLATES]

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
# the words the grammar gives meaning to, so edits land on real keys and values often
WORDS = (
    "id scope level conditions kpi window days op value action type mode max min all any not "
    "schedule keyword campaign roas cpa bid budget percent > <= between -1 1e400 nan"
).split()
# the characters YAML gives meaning to (anchors, tags, flow collections, comments)
YAML_BITS = [
    ":",
    "-",
    " ",
    "\n",
    "  ",
    "'",
    '"',
    "[",
    "{",
    "&a",
    "*a",
    "!!python/object:x",
    "\t",
    "#",
]


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated_specs(draw: st.DrawFn) -> dict[str, Any]:
    spec = copy.deepcopy(draw(st.sampled_from(SPECS)))
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(_paths(spec)))
        parent: Any = spec
        for key in path[:-1]:
            parent = parent[key]
        new = draw(st.one_of(JSON, st.sampled_from(WORDS)))
        if not path:
            if isinstance(new, dict):
                spec = new
            continue
        kind = draw(st.sampled_from(["replace", "drop", "add"]))
        if kind == "replace":
            parent[path[-1]] = new
        elif kind == "drop":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.one_of(st.sampled_from(WORDS), st.text(max_size=8)))] = new
        if not isinstance(spec, dict):
            break
    return spec


@st.composite
def mutated_text(draw: st.DrawFn) -> str:
    text = yaml.safe_dump(draw(mutated_specs()), sort_keys=False, allow_unicode=True)
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(text)))
        bit = draw(st.sampled_from(YAML_BITS))
        text = text[:at] + bit + text[at + draw(st.integers(0, 3)) :]
    return text


def _check(spec: dict[str, Any] | None = None, text: str | None = None) -> None:
    checked = check_spec(spec, text)  # never raises
    assert checked["valid"] == (checked["rule"] is not None)
    try:
        rule = parse_spec(spec, text)
    except ValidationError as e:
        assert not checked["valid"] and e.issues, checked
        for issue in e.issues:
            assert issue.problem and issue.fix, issue
            # located: a dotted path in the spec, or a line of the text
            assert issue.column or issue.row, issue
        return
    assert checked["valid"] and isinstance(rule, Rule)


@FUZZ
@given(spec=mutated_specs())
def test_parse_spec_on_edited_json(spec):
    _check(spec=spec)


@FUZZ
@given(text=mutated_text())
def test_parse_spec_on_edited_yaml(text):
    _check(text=text)


@FUZZ
@given(text=st.one_of(st.text(max_size=300), st.from_regex(r"[a-z: \n\-\[\]{}0-9.'\"]{0,200}")))
def test_parse_spec_on_arbitrary_text(text):
    _check(text=text)


def test_the_edits_reach_both_answers():
    """The edited templates are not all rejected at the first key: some still parse."""
    assert all(check_spec(spec)["valid"] for spec in SPECS)
    assert len(SPECS) >= 3
