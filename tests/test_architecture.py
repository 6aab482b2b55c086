"""The shape of the code: no import cycles among spendlab's modules (grimp, the import graph
import-linter checks its layer contracts on; imports under ``if TYPE_CHECKING:`` do not count,
as they never run)."""

from __future__ import annotations

import grimp
import pytest


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
    cycles = _cycles(graph)
    assert not cycles, "import cycles (break them):\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_mmm_factory_sits_above_both_estimators(graph):
    """The estimator, its geo subclass, the run files and the config never import the factory
    that chooses between them."""
    factory = "spendlab.measure.mmm.factory"
    for below in ("estimator", "geo_estimator", "run_files", "config"):
        module = f"spendlab.measure.mmm.{below}"
        assert graph.find_shortest_chain(importer=module, imported=factory) is None, module


def test_the_cycle_check_can_fail():
    """A planted cycle is found (the check is not vacuous)."""
    g = grimp.ImportGraph()
    for m in ("x", "x.a", "x.b"):
        g.add_module(m)
    g.add_import(importer="x.a", imported="x.b")
    g.add_import(importer="x.b", imported="x.a")
    assert _cycles(g) == [("x.a", "x.b", "x.a"), ("x.b", "x.a", "x.b")]
