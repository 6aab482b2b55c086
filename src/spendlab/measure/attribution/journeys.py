"""Journeys from the ``touchpoints`` and ``conversions`` tables, aggregated in the warehouse.

Everything below is one Ibis expression: it runs where the data lives (DuckDB by default, Spark,
BigQuery...) and only the path counts (one row per distinct path) come back.

Journeys (``JourneyConfig.mode``):

- ``"conversion"``: one journey per conversion: the user's touches after their previous conversion
  and at or before this one, within ``lookback_days``. Users' touches after their last conversion
  (or all of them, for users who never converted) form one non-converting (null) journey, limited
  to ``lookback_days`` before its last touch.
- ``"user"``: one journey per user: the touches within ``lookback_days`` before the last
  conversion; ``conversions`` counts the user's conversions (value summed). Users without a
  conversion give a null journey.

Transforms, in this order: drop steps whose channel is in ``drop_channels`` (e.g. direct/none),
label steps by ``channel`` or ``campaign`` (``"channel: campaign"``), collapse consecutive repeats,
keep the first ``first_n`` or last ``last_n`` steps. Conversions whose journey has no touch left are
counted in :func:`journey_summary` as ``conversions_without_touch`` and do not enter the paths.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pandas as pd

from spendlab.errors import ConfigError, DataError
from spendlab.measure.attribution.paths import SEPARATOR, PathCounts, from_frame


@dataclass(frozen=True)
class JourneyConfig:
    lookback_days: float = 30.0
    mode: str = "conversion"
    granularity: str = "channel"
    collapse_repeats: bool = True
    drop_channels: tuple[str, ...] = ()
    first_n: int | None = None
    last_n: int | None = None
    include_nulls: bool = True
    event: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("conversion", "user"):
            raise ConfigError(f"mode = {self.mode!r}; use 'conversion' or 'user'")
        if self.granularity not in ("channel", "campaign"):
            raise ConfigError(f"granularity = {self.granularity!r}; use 'channel' or 'campaign'")
        if not self.lookback_days > 0:
            raise ConfigError(f"lookback_days = {self.lookback_days}; give a positive number")
        for name in ("first_n", "last_n"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise ConfigError(f"{name} = {v}; give a positive number of touches or None")
        if self.first_n is not None and self.last_n is not None:
            raise ConfigError("give first_n or last_n, not both")


def _tables(source: object) -> tuple[ir.Table, ir.Table]:
    if isinstance(source, tuple):
        tp, cv = source
    else:
        tp, cv = source.table("touchpoints"), source.table("conversions")  # type: ignore[attr-defined]
    for t in (tp, cv):
        if isinstance(t, pd.DataFrame):
            raise ConfigError("pass Ibis tables (ibis.memtable(frame)) or a Warehouse")
    return tp, cv


def journey_table(
    source: object, config: JourneyConfig = JourneyConfig(), *, with_touches: bool = False
) -> ir.Table:
    """One row per journey: ``journey``, ``user_id``, ``path``, ``touches``, ``first_touch``,
    ``end`` (conversion time, or last touch for nulls), ``conversions``, ``nulls``, ``value``;
    with ``with_touches`` also ``steps`` (array of the touches' labels, in order) and ``ages``
    (array of days from each touch to ``end``).

    ``source``: a :class:`~spendlab.data.warehouse.Warehouse` or a ``(touchpoints, conversions)``
    pair of Ibis tables with the canonical columns.
    """
    tp, cv = _tables(source)
    if config.event is not None:
        cv = cv.filter(cv.event == config.event)
    drop = [d.lower() for d in config.drop_channels]
    if drop:
        tp = tp.filter(~tp.channel.lower().isin(drop))
    if config.granularity == "channel":
        step = tp.channel
    else:
        step = ibis.ifelse(tp.campaign == "", tp.channel, tp.channel.concat(": ", tp.campaign))
    tp = tp.select(user_id=tp.user_id, ts=tp.timestamp, step=step)
    lookback = ibis.interval(seconds=int(round(config.lookback_days * 86400)))
    uw = ibis.window(group_by="user_id", order_by="conv_ts")
    cv = cv.select(user_id=cv.user_id, conv_ts=cv.timestamp, value=cv.value.fill_null(0.0))
    if config.mode == "conversion":
        cv = cv.mutate(prev_ts=cv.conv_ts.lag().over(uw), k=ibis.row_number().over(uw))
        cv = cv.mutate(journey=cv.user_id.concat("#", cv.k.cast("string")))
        j = tp.join(cv, tp.user_id == cv.user_id)
        j = j.filter(
            (j.ts <= j.conv_ts)
            & (j.ts >= j.conv_ts - lookback)
            & (j.prev_ts.isnull() | (j.ts > j.prev_ts))
        )
        conv_steps = j.select("journey", "user_id", "ts", "step", end=j.conv_ts)
        conv_rows = cv.select(
            "journey", "user_id", end=cv.conv_ts, conversions=ibis.literal(1.0), value=cv.value
        )
    else:
        per_user = cv.group_by("user_id").aggregate(
            end=cv.conv_ts.max(), conversions=cv.count().cast("float64"), value=cv.value.sum()
        )
        per_user = per_user.mutate(journey=per_user.user_id.concat("#u"))
        j = tp.join(per_user, tp.user_id == per_user.user_id)
        j = j.filter((j.ts <= j.end) & (j.ts >= j.end - lookback))
        conv_steps = j.select("journey", "user_id", "ts", "step", "end")
        conv_rows = per_user.select("journey", "user_id", "end", "conversions", "value")
    parts = [conv_steps]
    if config.include_nulls:
        last = cv.group_by("user_id").aggregate(last_conv=cv.conv_ts.max())
        n = tp.left_join(last, tp.user_id == last.user_id)
        n = n.filter(n.last_conv.isnull() | (n.ts > n.last_conv))
        n = n.mutate(end=n.ts.max().over(ibis.window(group_by="user_id")))
        n = n.filter(n.ts >= n.end - lookback)
        parts.append(n.select(journey=n.user_id.concat("#null"), user_id=n.user_id, ts=n.ts,
                              step=n.step, end=n.end))  # fmt: skip
    steps = parts[0] if len(parts) == 1 else parts[0].union(parts[1])
    jw = ibis.window(group_by="journey", order_by=["ts", "step"])
    if config.collapse_repeats:
        steps = steps.mutate(prev=steps.step.lag().over(jw))
        steps = steps.filter(steps.prev.isnull() | (steps.prev != steps.step)).drop("prev")
    if config.first_n is not None:
        steps = steps.mutate(k=ibis.row_number().over(jw))
        steps = steps.filter(steps.k < config.first_n).drop("k")
    if config.last_n is not None:
        back = ibis.window(group_by="journey", order_by=[ibis.desc("ts"), ibis.desc("step")])
        steps = steps.mutate(k=ibis.row_number().over(back))
        steps = steps.filter(steps.k < config.last_n).drop("k")
    touch_order = [steps.ts, steps.step]
    extra = {}
    if with_touches:
        age = (steps.end.epoch_seconds() - steps.ts.epoch_seconds()).cast("float64") / 86400.0
        extra = {
            "steps": steps.step.collect(order_by=touch_order),
            "ages": age.collect(order_by=touch_order),
        }
    agg = steps.group_by("journey").aggregate(
        user_id=steps.user_id.max(),
        path=steps.step.group_concat(SEPARATOR, order_by=touch_order),
        touches=steps.count(),
        first_touch=steps.ts.min(),
        end_null=steps.end.max(),
        **extra,
    )
    out = agg.left_join(conv_rows.select("journey", "end", "conversions", "value"),
                        agg.journey == conv_rows.journey)  # fmt: skip
    out = out.select(
        "journey",
        "user_id",
        "path",
        "touches",
        "first_touch",
        *(["steps", "ages"] if with_touches else []),
        end=ibis.coalesce(out.end, out.end_null),
        conversions=out.conversions.fill_null(0.0),
        nulls=ibis.ifelse(out.conversions.isnull(), 1.0, 0.0),
        value=out.value.fill_null(0.0),
    )
    return out


def path_counts_expr(source: object, config: JourneyConfig = JourneyConfig()) -> ir.Table:
    """The path counts as an Ibis expression: ``path``, ``conversions``, ``nulls``, ``value``."""
    jt = journey_table(source, config)
    return jt.group_by("path").aggregate(
        conversions=jt.conversions.sum(), nulls=jt.nulls.sum(), value=jt.value.sum()
    )


def build_paths(source: object, config: JourneyConfig = JourneyConfig()) -> PathCounts:
    """Aggregate journeys in the warehouse and return :class:`PathCounts`."""
    # ordered, so the channel numbering, the path order and a seeded bootstrap over them are
    # the same on every run (a parallel warehouse returns groups in no fixed order)
    frame = path_counts_expr(source, config).order_by("path").to_pandas()
    return from_frame(frame, source="journeys", max_length=10**9)


def build_journeys(source: object, config: JourneyConfig = JourneyConfig()) -> PathCounts:
    """One entry per journey (not aggregated by path) with the age in days of every touch
    (``PathCounts.ages``): what time decay with a half-life in days needs. Every model accepts
    it; the bootstrap then resamples journeys. Only the journeys' touch lists come back from the
    warehouse (Arrow), no path strings are parsed."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    jt = journey_table(source, config, with_touches=True)
    # ordered by journey: the same journeys, channel numbers and bootstrap draws on every run
    jt = jt.order_by("journey")
    t = jt.select("steps", "ages", "conversions", "nulls", "value").to_pyarrow()
    if t.num_rows == 0:
        raise DataError("no journeys: the workspace has no touchpoints in the lookback window")
    steps = pa.concat_arrays(t.column("steps").chunks)
    ages = pa.concat_arrays(t.column("ages").chunks)
    offsets = pc.list_value_length(steps).to_numpy(zero_copy_only=False).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(offsets)])
    tokens = pc.dictionary_encode(pc.list_flatten(steps))
    names = [str(x).strip() for x in tokens.dictionary.to_pylist()]
    index: dict[str, int] = {}
    lut = np.array([index.setdefault(x, len(index)) for x in names], dtype=np.int32)
    return PathCounts(
        channels=tuple(index),
        steps=lut[tokens.indices.to_numpy(zero_copy_only=False)],
        offsets=offsets,
        conversions=t.column("conversions").to_numpy().astype(float),
        nulls=t.column("nulls").to_numpy().astype(float),
        value=t.column("value").to_numpy().astype(float),
        ages=pc.list_flatten(ages).to_numpy(zero_copy_only=False).astype(float),
    )


def journey_summary(source: object, config: JourneyConfig = JourneyConfig()) -> dict[str, float]:
    """Counts: journeys, converting journeys, conversions in paths, conversions whose journey has
    no touch (``conversions_without_touch``), null journeys."""
    tp, cv = _tables(source)
    if config.event is not None:
        cv = cv.filter(cv.event == config.event)
    jt = journey_table(source, config)
    row = (
        jt.aggregate(journeys=jt.count(), conversions=jt.conversions.sum(), nulls=jt.nulls.sum())
        .to_pandas()
        .iloc[0]
    )
    total = float(cv.count().to_pandas())
    conv = float(row["conversions"] or 0.0)
    return {
        "journeys": float(row["journeys"]),
        "conversions": conv,
        "nulls": float(row["nulls"] or 0.0),
        "conversions_total": total,
        "conversions_without_touch": total - conv,
    }
