"""Rule specs as the interfaces receive them: JSON objects or YAML text, checked into a
:class:`~spendlab.automate.rules.spec.Rule` or into *located issues* (a dotted location, the YAML
line, the problem and how to fix it), and the template library.

The REST API's ``/validate``, the Automate page's editor and :mod:`spendlab.automate.service`
(which saves what parses) all call these functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydantic
import yaml

from spendlab.automate.rules.spec import Rule
from spendlab.errors import ConfigError, Issue, ValidationError

#: The template library: one ready rule per YAML file.
TEMPLATES = Path(__file__).parent / "templates"
#: Longest rule text accepted (characters).
MAX_SPEC_CHARS = 200_000


# -- located issues ---------------------------------------------------------------------------
_BRANCHES = {"All": "all", "Any_": "any"}


def _branch_ok(tag: str, obj: Any) -> bool:
    """Whether a union branch tag in a pydantic location is the one the input meant."""
    want = "All" if isinstance(obj, dict) and "all" in obj else None
    want = "Any_" if isinstance(obj, dict) and "any" in obj and want is None else want
    if tag in _BRANCHES:
        return tag == want
    return want is None  # the Condition branch


def _clean_loc(loc: tuple, data: Any) -> list[Any] | None:
    """The location without union branch tags, or None when the error is about a branch the
    input did not mean (a condition reported as a failed ``all`` group)."""
    out: list[Any] = []
    obj = data
    for part in loc:
        if isinstance(part, str) and (part in _BRANCHES or part.startswith("function-")):
            if not _branch_ok(part, obj):
                return None
            continue
        out.append(part)
        if isinstance(obj, dict):
            obj = obj.get(part)
        elif isinstance(obj, list) and isinstance(part, int) and 0 <= part < len(obj):
            obj = obj[part]
        else:
            obj = None
    return out


def _yaml_line(text: str | None, loc: list[Any]) -> int | None:
    """1-based line of ``loc`` in YAML ``text`` (the deepest part that exists)."""
    if not text:
        return None
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in loc:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part] if 0 <= part < len(node.value) else None
        else:
            node = None
    if node is not None:
        line = node.start_mark.line + 1
    return line


_FIXES = {
    "missing": "add this field",
    "extra_forbidden": "remove it or check its spelling",
    "literal_error": "use one of the values listed",
    "enum": "use one of the values listed",
}


def _issue(problem: str, fix: str, line: int | None, location: str = "rule") -> dict[str, Any]:
    return {"location": location, "line": line, "problem": problem, "fix": fix}


def spec_issues(e: pydantic.ValidationError, data: Any, text: str | None) -> list[dict[str, Any]]:
    """Pydantic errors of a rule spec as located issues: ``location`` (dotted path), ``line``
    (for YAML input), ``problem`` and ``fix``."""
    out, seen = [], set()
    for err in e.errors():
        loc = _clean_loc(tuple(err["loc"]), data)
        if loc is None:
            continue
        where = ".".join(str(x) for x in loc) or "rule"
        problem = str(err["msg"]).removeprefix("Value error, ")
        if (where, problem) in seen:
            continue
        seen.add((where, problem))
        fix = _FIXES.get(err["type"], "see docs/rules.md for the rule grammar")
        out.append(_issue(problem, fix, _yaml_line(text, loc), where))
    return out


def load_spec(
    spec: dict[str, Any] | None = None, text: str | None = None
) -> tuple[Any, str | None]:
    """The spec's data from a JSON object or YAML/JSON text (exactly one)."""
    if (spec is None) == (text is None):
        raise ConfigError("send the rule as 'spec' (a JSON object) or as 'yaml' (text), not both")
    if spec is not None:
        return spec, None
    if len(text or "") > MAX_SPEC_CHARS:
        raise ConfigError(f"the rule text is over {MAX_SPEC_CHARS:,} characters")
    try:
        data = yaml.safe_load(text or "")
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise ValidationError(
            [
                Issue(
                    problem=f"not valid YAML: {getattr(e, 'problem', None) or e}",
                    fix="fix the YAML syntax (indentation, quotes, colons)",
                    row=mark.line + 1 if mark else None,
                )
            ]
        ) from None
    return data, text


def _invalid(issues: list[dict[str, Any]]) -> dict[str, Any]:
    return {"valid": False, "rule": None, "issues": issues}


def check_spec(spec: dict[str, Any] | None = None, text: str | None = None) -> dict[str, Any]:
    """Validate a rule: ``{"valid", "rule" (normalised spec or None), "issues"}``."""
    try:
        data, text = load_spec(spec, text)
    except ValidationError as e:  # YAML syntax
        return _invalid([_issue(i.problem, i.fix, i.row) for i in e.issues])
    if not isinstance(data, dict):
        problem = "a rule is a mapping (id, scope, conditions, action, ...)"
        fix = "start from a template (GET .../rules/templates)"
        return _invalid([_issue(problem, fix, 1 if text else None)])
    try:
        rule = Rule.model_validate(data)
    except pydantic.ValidationError as e:
        return _invalid(spec_issues(e, data, text))
    return {"valid": True, "rule": rule.model_dump(mode="json"), "issues": []}


def parse_spec(spec: dict[str, Any] | None = None, text: str | None = None) -> Rule:
    """A :class:`Rule`, or a ``ValidationError`` whose issues locate each problem."""
    checked = check_spec(spec, text)
    if not checked["valid"]:
        issues = [
            Issue(problem=i["problem"], fix=i["fix"], column=i["location"], row=i["line"])
            for i in checked["issues"]
        ]
        raise ValidationError(issues)
    return Rule.model_validate(checked["rule"])


def templates() -> list[dict[str, Any]]:
    """The template library: id, name, description (the file's comment), YAML text, spec."""
    out = []
    for path in sorted(TEMPLATES.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        rule = Rule.model_validate(yaml.safe_load(text))
        first = text.splitlines()[0] if text else ""
        out.append(
            {
                "id": rule.id,
                "name": rule.name,
                "description": first.lstrip("# ").strip() if first.startswith("#") else "",
                "file": path.name,
                "yaml": text,
                "spec": rule.model_dump(mode="json", exclude_defaults=True),
            }
        )
    return out


__all__ = [
    "MAX_SPEC_CHARS",
    "TEMPLATES",
    "check_spec",
    "load_spec",
    "parse_spec",
    "spec_issues",
    "templates",
]
