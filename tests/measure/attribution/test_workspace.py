"""The attribution facade on a workspace: journeys and spend per channel under one warehouse
connection, closed on return; the same numbers as the building blocks."""

from __future__ import annotations

import pandas as pd
import pytest

from spendlab.data.ingest import ingest_frames
from spendlab.measure.attribution import JourneyConfig, build_paths, paths_and_spend
from spendlab.measure.attribution.calibration import channel_spend
from spendlab.simulate import SimConfig, simulate
from spendlab.workspace import Workspace


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Workspace:
    market = simulate(SimConfig(seed=5, days=40, campaigns=6, users=400, customers=100))
    ws = Workspace.init(tmp_path_factory.mktemp("attr") / "ws", currency="USD")
    with ws.warehouse() as wh:
        tables = ("ad_performance", "touchpoints", "conversions")
        ingest_frames(wh, {k: market.frames[k] for k in tables})
    return ws


def test_paths_and_spend_match_the_building_blocks(ws):
    paths, spend = paths_and_spend(ws, 20.0, "campaign", ("direct",))
    # the connection is closed: another configuration of the same file opens in this process
    with ws.warehouse(read_only=True) as wh:
        cfg = JourneyConfig(lookback_days=20.0, granularity="campaign", drop_channels=("direct",))
        expected = build_paths(wh, cfg)
        expected_spend = channel_spend(wh, granularity="campaign")
    assert paths.total_conversions == expected.total_conversions > 0
    assert sorted(paths.channels) == sorted(expected.channels)
    assert not any(c.startswith("direct") for c in paths.channels)
    pd.testing.assert_frame_equal(
        spend.sort_values("channel").reset_index(drop=True),
        expected_spend.sort_values("channel").reset_index(drop=True),
    )
    only_paths, none = paths_and_spend(ws, read_only=True, with_spend=False)
    assert none is None and only_paths.total_conversions > 0


def test_paths_and_journeys_come_back_in_one_order_every_run(ws):
    """A parallel warehouse returns groups in no fixed order; the paths (and so the channel
    numbering and a seeded bootstrap over them) are ordered, the same on every run."""
    from spendlab.measure.attribution import build_journeys

    cfg = JourneyConfig(lookback_days=20.0, granularity="campaign")
    with ws.warehouse(read_only=True) as wh:
        runs = [build_paths(wh, cfg) for _ in range(3)]
        journeys = [build_journeys(wh, cfg) for _ in range(2)]
    paths = runs[0].to_frame()["path"].tolist()
    assert paths == sorted(paths) and len(paths) > 5
    for other in runs[1:]:
        assert other.channels == runs[0].channels
        pd.testing.assert_frame_equal(other.to_frame(), runs[0].to_frame())
    assert journeys[0].channels == journeys[1].channels
    pd.testing.assert_frame_equal(journeys[0].to_frame(), journeys[1].to_frame())
