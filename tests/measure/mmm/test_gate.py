"""The gate a fitted MMM passes before its curves drive budgets (spendlab.measure.mmm.gate), on
hand-made summaries at each bound: pass at the edge, fail just past it."""

from __future__ import annotations

import copy

import pytest

from spendlab.measure.mmm.gate import GateBounds, GateResult, gate


def healthy() -> dict:
    """A NUTS summary that passes every check (the shape of ``MMM.to_json()`` plus the
    per-channel ``prior`` and ``shape`` that ``gate_input`` adds)."""
    return {
        "diagnostics": {
            "method": "nuts",
            "rhat_max": 1.004,
            "ess_bulk_min": 812.0,
            "ess_tail_min": 700.0,
            "divergences": 0,
        },
        "fit": {"in_sample": {"mape": 0.05}, "holdout": {"mape": 0.08}},
        "channels": {
            "search": {
                "iroas": {"mean": 2.0, "lo": 1.5, "hi": 2.6},
                "prior": {"mean": 1.3, "hi": 4.7},
                "shape": {"type": "hill", "s": 1.8, "half": 900.0, "spend_p05": 800.0},
            },
            "social": {
                "iroas": {"mean": 1.1, "lo": 0.6, "hi": 1.7},
                "prior": {"mean": 1.3, "hi": 4.7},
                "shape": {"type": "logistic", "s": None, "half": 300.0, "spend_p05": 500.0},
            },
        },
    }


def status(result: GateResult, check: str, channel: str = "") -> str:
    rows = [c for c in result.checks if c["check"] == check and c.get("channel", "") == channel]
    assert len(rows) == 1, rows
    return rows[0]["status"]


def test_a_healthy_nuts_summary_passes_every_check() -> None:
    got = gate(healthy())
    assert got.passed and got.failed == [] and got.reason() == ""
    assert {c["status"] for c in got.checks} == {"PASS"}
    names = [(c["check"], c.get("channel", "")) for c in got.checks]
    assert names == [
        ("inference", ""),
        ("rhat", ""),
        ("divergences", ""),
        ("ess_bulk", ""),
        ("holdout_mape", ""),
        ("iroas", "search"),
        ("curve_shape", "search"),
        ("iroas", "social"),
        ("curve_shape", "social"),
    ]
    assert got.to_dict() == {"passed": True, "checks": got.checks, "failed": []}


@pytest.mark.parametrize(
    ("path", "edge", "past", "check", "channel"),
    [
        (("diagnostics", "rhat_max"), 1.01, 1.0101, "rhat", ""),
        (("diagnostics", "divergences"), 0, 1, "divergences", ""),
        (("diagnostics", "ess_bulk_min"), 400.0, 399.9, "ess_bulk", ""),
        (("fit", "holdout", "mape"), 0.20, 0.2001, "holdout_mape", ""),
        (("channels", "search", "iroas", "mean"), 4.7, 4.7001, "iroas", "search"),
        (("channels", "search", "shape", "s"), 5.0, 5.001, "curve_shape", "search"),
        # half-saturation / 5th percentile of spend: 200 / 800 = 0.25 is the edge
        (("channels", "search", "shape", "half"), 200.0, 199.9, "curve_shape", "search"),
        (("channels", "social", "shape", "half"), 125.0, 124.9, "curve_shape", "social"),
    ],
)
def test_each_bound_passes_at_the_edge_and_fails_past_it(path, edge, past, check, channel):
    for value, want in ((edge, "PASS"), (past, "FAIL")):
        s = copy.deepcopy(healthy())
        node = s
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value
        got = gate(s)
        assert status(got, check, channel) == want
        assert got.passed is (want == "PASS")
        if want == "FAIL":
            (row,) = got.failed
            p05 = s["channels"].get(channel, {}).get("shape", {}).get("spend_p05")
            shown = value / p05 if path[-1] == "half" else value  # the ratio is reported
            assert row["value"] == pytest.approx(shown) and row["advice"] != "ok"
            where = f"[{channel}]" if channel else ""
            assert got.reason().startswith(f"{check}{where} = ")


def test_a_fast_fit_never_passes_and_its_convergence_checks_are_skipped() -> None:
    s = healthy()
    s["diagnostics"] = {
        "method": "laplace",
        "rhat_max": None,
        "ess_bulk_min": 100.0,
        "ess_tail_min": 100.0,
        "divergences": 0,
    }
    got = gate(s)
    assert not got.passed
    assert [c["check"] for c in got.failed] == ["inference"]
    assert "--fast" in got.failed[0]["advice"] and "--activate" in got.failed[0]["advice"]
    assert [status(got, c) for c in ("rhat", "divergences", "ess_bulk")] == ["SKIP"] * 3


def test_missing_convergence_evidence_fails_a_nuts_run() -> None:
    """One chain of 10 draws: no R-hat, no ESS. Missing evidence is not a pass."""
    s = healthy()
    s["diagnostics"] = {
        "method": "nuts",
        "rhat_max": None,
        "ess_bulk_min": float("nan"),
        "divergences": 0,
    }
    got = gate(s)
    assert [c["check"] for c in got.failed] == ["rhat", "ess_bulk"]


def test_no_holdout_and_no_prior_or_curves_are_skipped_not_failed() -> None:
    s = healthy()
    s["fit"]["holdout"] = {"mape": None}
    for c in s["channels"].values():
        del c["prior"], c["shape"]
    got = gate(s)
    assert got.passed
    assert status(got, "holdout_mape") == "SKIP"
    assert status(got, "iroas", "search") == "SKIP" == status(got, "curve_shape", "social")


def test_bounds_are_adjustable_and_the_demo_failure_fails() -> None:
    """The demo market's default fit (issue 14): R-hat 1.023, 27 divergences, ESS 178."""
    s = healthy()
    s["diagnostics"] |= {"rhat_max": 1.023, "divergences": 27, "ess_bulk_min": 178.0}
    got = gate(s)
    assert [c["check"] for c in got.failed] == ["rhat", "divergences", "ess_bulk"]
    loose = GateBounds(rhat_max=1.05, divergences_max=30, ess_bulk_min=100)
    assert gate(s, loose).passed
    assert GateResult.from_dict(got.to_dict()).failed == got.failed
