"""The shape of the code: no import cycles among spendlab's modules (grimp, the import graph
import-linter checks its layer contracts on; imports under ``if TYPE_CHECKING:`` do not count,
as they never run)."""

from __future__ import annotations

import grimp
import pytest

#: Cycles that exist today outside the MMM domain, each owned by another part of the code and
#: listed here rather than fixed in passing. A cycle is skipped only when all its modules sit
#: inside one group. Remove a group when its cycle is gone; never add one for new code.
KNOWN_CYCLES: dict[str, frozenset[str]] = {
    # app/web/pages/__init__.py imports every page module, and the pages import PageContext from
    # the package: PageContext belongs in a module of its own (e.g. pages/context.py)
    "pages package <-> pages": frozenset({"spendlab.app.web.pages", "spendlab.app.web.pages.*"}),
    # each reader module and its writer import each other (the writer reuses the reader's
    # column names, the reader re-exports the writer)
    "ga4 reader <-> writer": frozenset(
        {"spendlab.data.sources.ga4", "spendlab.data.sources.ga4_writer"}
    ),
    "google_ads_ui reader <-> writer": frozenset(
        {"spendlab.data.sources.google_ads_ui", "spendlab.data.sources.google_ads_ui_writer"}
    ),
}


def _in_group(module: str, group: frozenset[str]) -> bool:
    """``module`` is listed in ``group``, or is a direct child of a ``package.*`` entry."""
    for g in group:
        if module == g:
            return True
        if g.endswith(".*"):
            if module.rpartition(".")[0] == g[:-2]:
                return True
    return False


def _known(modules: set[str]) -> bool:
    return any(all(_in_group(m, group) for m in modules) for group in KNOWN_CYCLES.values())


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("spendlab", exclude_type_checking_imports=True, cache_dir=None)


def _cycles(graph: grimp.ImportGraph) -> list[tuple[str, ...]]:
    """Every direct import ``a -> b`` for which ``b`` imports ``a`` back (through any chain), as
    the cycle ``a, b, ..., a``."""
    found = []
    for a in sorted(graph.modules):
        for b in sorted(graph.find_modules_directly_imported_by(a)):
            back = graph.find_shortest_chain(importer=b, imported=a)
            if back is not None:
                found.append((a, *back))
    return found


def test_no_import_cycles(graph):
    cycles = [c for c in _cycles(graph) if not _known(set(c))]
    assert not cycles, "import cycles (break them; see KNOWN_CYCLES):\n" + "\n".join(
        " -> ".join(c) for c in cycles
    )


def test_the_mmm_domain_has_no_cycle_even_through_known_ones(graph):
    """The estimator, its geo subclass, the run files, the run index and the services import
    each other one way only (the factory sits above both estimators)."""
    mmm = [c for c in _cycles(graph) if any(m.startswith("spendlab.measure") for m in c)]
    assert mmm == []
    factory = "spendlab.measure.mmm.factory"
    for below in ("estimator", "geo_estimator", "run_files", "config"):
        module = f"spendlab.measure.mmm.{below}"
        assert graph.find_shortest_chain(importer=module, imported=factory) is None, module


def test_the_known_cycles_skip_nothing_in_measure_plan_or_automate():
    domains = ("spendlab.measure", "spendlab.plan", "spendlab.automate")
    for group in KNOWN_CYCLES.values():
        assert not any(g.startswith(domains) for g in group)
