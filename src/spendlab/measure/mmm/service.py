"""Marketing-mix model use cases on a workspace, each written once.

    plan = prepare_fit(ws, kpi="revenue", controls=["price"], fast=True)  # reads, releases
    run_id = start_fit(ws, plan, user="ana")        # indexed as running
    model, run = fit_run(ws, plan, run_id)          # fit, save the files, mark succeeded
    list_runs(ws); get_run(ws, run_id); load_model(ws, run_id)

- :func:`prepare_fit` builds the model's input from the workspace's canonical tables
  (:mod:`spendlab.measure.mmm.workspace`) inside one ``with ws.warehouse(read_only=True)`` block
  and releases the file: a fit of minutes never holds the warehouse. Bad input (no such KPI or
  channel, empty tables, unknown options) fails here, before anything is recorded.
- :func:`start_fit` indexes the run as ``running`` in the workspace's store (``ws.store``).
- :func:`fit_run` fits, saves the run's files in ``ws.run_folder(run_id)`` and marks the run
  ``succeeded``; a failure marks it ``failed`` with the reason and is raised again.
- :func:`reconcile` marks runs whose background job died (the server stopped) ``failed``.

Publishing a fit's response curves for planning is not here: ``measure`` sits below ``plan``
(the layer contract in pyproject.toml), and a curve set is planning's. The one use case
"fit, record the run, publish the curves" is :mod:`spendlab.plan.mmm_fit`, which calls the
functions above and then ``plan.curvesets``; the CLI, the REST API and the dashboard all call it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spendlab.core.jsonsafe import jsonable
from spendlab.errors import ConfigError, NotFoundError, SpendLabError
from spendlab.measure.mmm import store

if TYPE_CHECKING:
    import pandas as pd

    from spendlab.measure.mmm.config import MMMConfig
    from spendlab.measure.mmm.estimator import MMM
    from spendlab.measure.mmm.workspace import Frequency, MMMInput
    from spendlab.workspace import Workspace

#: ``progress(fraction 0..1, message)``, as the server's job runner passes it
Progress = Callable[[float, str], None]
#: ``job_lookup(job_id)``: the job as a dict with ``status`` and ``error`` (None or
#: :class:`~spendlab.errors.NotFoundError` when the job is gone)
JobLookup = Callable[[str], Mapping[str, Any] | None]

#: MMMConfig fields the data decide (or that only change the display): not fit options
_NOT_OPTIONS = frozenset(
    {"date", "target", "channels", "controls", "events", "geo", "population", "progress_bar"}
)


@dataclass(frozen=True)
class FitPlan:
    """Everything a fit needs, read from the workspace (no file is held open).

    ``input`` is the input built from the canonical tables (None for a table fitted as is, see
    :func:`prepare_table_fit`); ``members`` maps each channel to its campaign ids (planning reads
    the channel's current spend by them); ``request`` is what was asked, as JSON (a job's
    parameters)."""

    config: MMMConfig
    frame: pd.DataFrame
    source: str
    request: dict[str, Any]
    input: MMMInput | None = None
    members: dict[str, list[str]] | None = None

    @property
    def frequency(self) -> str | None:
        return self.input.frequency if self.input is not None else None

    @property
    def publishes_curves(self) -> bool:
        """A fit of the canonical tables publishes its curves for planning (a table fitted as
        is has no campaigns behind its channels)."""
        return self.input is not None

    def describe(self) -> dict[str, Any]:
        if self.input is not None:
            return self.input.describe()
        return {"source": self.source, "periods": len(self.frame)}

    def shape(self) -> str:
        cfg = self.config
        n = len(self.frame)
        periods = f"{n} {self.frequency} periods" if self.input is not None else f"{n} rows"
        how = "fast (Laplace)" if cfg.fast else f"NUTS, {cfg.chains} chain(s) x {cfg.draws} draws"
        return f"{periods}, {len(cfg.channels)} channels, {how}"


# ------------------------------------------------------------------------------------ fitting
def fit_options() -> tuple[str, ...]:
    """The :class:`MMMConfig` fields a caller may set when fitting from a workspace."""
    from spendlab.measure.mmm.config import MMMConfig

    return tuple(f.name for f in dataclasses.fields(MMMConfig) if f.name not in _NOT_OPTIONS)


def _check_options(options: Mapping[str, Any]) -> None:
    allowed = fit_options()
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(f"unknown fit option(s) {unknown}; the options are {list(allowed)}")


def _request(**values: Any) -> dict[str, Any]:
    """What was asked, as plain JSON (dates as ISO text)."""
    out = {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in values.items()}
    return jsonable(out)


def prepare_fit(
    ws: Workspace,
    *,
    kpi: str | None = None,
    frequency: Frequency = "auto",
    channel_by: str = "platform",
    channel_map: Mapping[str, str] | None = None,
    channels: Sequence[str] | None = None,
    controls: Sequence[str] | None = None,
    start: dt.date | str | None = None,
    end: dt.date | str | None = None,
    **options: Any,
) -> FitPlan:
    """The fit of the workspace's canonical tables (see :func:`~spendlab.measure.mmm.workspace.
    build_input` for the inputs); ``options`` are :class:`MMMConfig` fields (``fast``, ``draws``,
    ``seed``, ...: :func:`fit_options`). Reads the warehouse once, then releases it."""
    from spendlab.measure.mmm.workspace import build_input, channel_members

    _check_options(options)
    chan_map = dict(channel_map) if channel_map else None
    with ws.warehouse(read_only=True) as wh:
        inp = build_input(
            wh,
            kpi=kpi,
            frequency=frequency,
            channel_by=channel_by,
            channel_map=chan_map,
            channels=channels,
            controls=controls,
            start=start,
            end=end,
        )
        members = channel_members(wh, channel_by, chan_map)
    config = inp.config(progress_bar=False, **options)
    asked = {"kpi": kpi, "frequency": frequency, "channel_by": channel_by}
    asked |= {"channel_map": chan_map or {}, "channels": channels, "controls": controls}
    request = _request(**asked, start=start, end=end, **options)
    return FitPlan(config, inp.frame, "workspace", request, inp, members)


def prepare_table_fit(
    ws: Workspace,
    table: str,
    *,
    target: str = "revenue",
    date: str = "date",
    channels: Sequence[str] = (),
    controls: Sequence[str] = (),
    events: Sequence[str] = (),
    **options: Any,
) -> FitPlan:
    """The fit of one workspace table as it is (one row per period; columns named by
    ``date``, ``target``, ``channels``, ...). Its curves are not published for planning."""
    from spendlab.measure.mmm.config import MMMConfig

    _check_options(options)
    columns = {"date": date, "target": target, "channels": tuple(channels)}
    columns |= {"controls": tuple(controls), "events": tuple(events)}
    config = MMMConfig(**columns, progress_bar=False, **options)
    with ws.warehouse(read_only=True) as wh:
        frame = wh.table(table).to_pandas()
    request = _request(table=table, **columns, **options)
    return FitPlan(config, frame, f"table:{table}", request)


def start_fit(ws: Workspace, plan: FitPlan, *, user: str = "", source: str | None = None) -> str:
    """Index the run as ``running`` (so a server lists it while it fits); returns its id."""
    return store.start_run(ws, plan.config, source=source or plan.source, user=user)


def _quiet(fraction: float, message: str = "") -> None:
    """No progress reporting."""


def failure_reason(e: BaseException) -> str:
    """The reason a failed run records: a SpendLab error's own message (it says what to do),
    else the exception's type and text."""
    if isinstance(e, SpendLabError):
        return str(e)
    if isinstance(e, KeyboardInterrupt):
        return "interrupted before the fit finished; fit again"
    return f"{type(e).__name__}: {e}"


def fit_run(
    ws: Workspace,
    plan: FitPlan,
    run_id: str,
    progress: Progress | None = None,
    *,
    run_dir: str | Path | None = None,
    progress_bar: bool = False,
) -> tuple[MMM, dict[str, Any]]:
    """Fit ``plan``, save the run's files (``run_dir``, default ``ws.run_folder(run_id)``) and
    mark the run succeeded; returns the model and the indexed run. Any failure marks the run
    failed with :func:`failure_reason` and is raised again. ``progress_bar`` shows the sampler's
    progress bar on the terminal (a display option: the stored config is the same)."""
    from spendlab.measure.mmm.factory import make_mmm

    report = progress or _quiet
    config = dataclasses.replace(plan.config, progress_bar=progress_bar)
    try:
        report(0.05, f"fitting the model: {plan.shape()}")
        model = make_mmm(config).fit(plan.frame)
        report(0.8, "computing the summary, health card and curves")
        summary = model.to_json()
        if plan.input is not None:
            summary["input"] = plan.input.describe()
        report(0.95, "saving the run")
        folder = model.save(Path(run_dir) if run_dir is not None else ws.run_folder(run_id))
        run = store.finish_run(ws, run_id, folder, jsonable(summary))
    except BaseException as e:
        store.fail_run(ws, run_id, failure_reason(e))
        raise
    return model, run


# ------------------------------------------------------------------------------------ runs
def reconcile(ws: Workspace, job_lookup: JobLookup) -> list[str]:
    """Runs left ``running`` by a background job that failed or is gone (the server stopped
    mid-fit) become ``failed`` with the job's reason; returns their ids."""
    failed = []
    for r in store.list_runs(ws, status="running"):
        if r["job_id"] is None:
            continue
        try:
            job = job_lookup(r["job_id"])
        except NotFoundError:
            job = None
        if job is None:
            reason = "its fit job is gone (the server stopped); fit again"
        elif job["status"] == "failed":
            reason = job.get("error") or "the fit job failed"
        else:
            continue
        store.fail_run(ws, r["id"], reason)
        failed.append(r["id"])
    return failed


def list_runs(
    ws: Workspace, status: str | None = None, *, jobs: JobLookup | None = None
) -> list[dict[str, Any]]:
    """The workspace's runs, newest first (``status`` filters). With ``jobs`` (a server's job
    lookup), runs whose job died are first marked failed (:func:`reconcile`)."""
    if status is not None and status not in store.STATUSES:
        raise ConfigError(f"status {status!r} is unknown; use one of {list(store.STATUSES)}")
    if jobs is not None:
        reconcile(ws, jobs)
    return store.list_runs(ws, status)


def get_run(ws: Workspace, run_id: str) -> dict[str, Any]:
    """One run with its config and summary (per channel iROAS / mROAS, health card, ...)."""
    return store.get_run(ws, run_id)


def latest_run(ws: Workspace) -> dict[str, Any] | None:
    """The newest succeeded run, or None."""
    return store.latest_run(ws)


def load_model(ws: Workspace, run_id: str) -> MMM:
    """The fitted model of a succeeded run, from its files (never refitted)."""
    return store.load_model(ws, store.get_run(ws, run_id))


__all__ = [
    "FitPlan",
    "JobLookup",
    "Progress",
    "failure_reason",
    "fit_options",
    "fit_run",
    "get_run",
    "latest_run",
    "list_runs",
    "load_model",
    "prepare_fit",
    "prepare_table_fit",
    "reconcile",
    "start_fit",
]
