from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from spendlab.measure.attribution import MarkovAttribution, compare_models, from_frame
from spendlab.measure.attribution.plots import (
    model_comparison,
    path_length_histogram,
    sankey_top_journeys,
    time_to_conversion_histogram,
    transition_heatmap,
)

PATHS = from_frame(
    pd.DataFrame(
        {"path": ["a > b", "b", "a > c > b"], "conversions": [4, 1, 2], "nulls": [6, 9, 1],
         "value": [40, 10, 20]}
    )
)  # fmt: skip


def test_figures():
    fig = sankey_top_journeys(PATHS, top=2)
    s = fig.data[0]
    assert isinstance(fig, go.Figure) and "conversion" in s.node.label
    # flows into the end nodes equal the top paths' conversions and nulls
    conv = s.node.label.index("conversion")
    assert sum(v for t, v in zip(s.link.target, s.link.value, strict=True) if t == conv) == 5
    heat = transition_heatmap(MarkovAttribution().fit(PATHS).chain_)
    assert heat.data[0].z.sum() == len(heat.data[0].y)  # rows are probabilities
    report = compare_models(PATHS, models=("last_touch", "linear"), bootstrap=20)
    bars = model_comparison(report)
    assert len(bars.data) == 2 and bars.data[0].error_y.array is not None
    hist = path_length_histogram(PATHS)
    assert list(hist.data[0].y) == [1, 4, 2]
    j = pd.DataFrame(
        {"conversions": [1.0, 0.0], "first_touch": pd.to_datetime(["2024-01-01", "2024-01-01"]),
         "end": pd.to_datetime(["2024-01-03", "2024-01-02"])}
    )  # fmt: skip
    assert list(time_to_conversion_histogram(j).data[0].x) == [2.0]
