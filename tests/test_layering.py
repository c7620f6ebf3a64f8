"""Reads never import writes, in every app and for every module added later: a module named
`*selectors` (or an app's `rules` / `sections`) that reaches any `*services` module, directly
or through others, is a services <-> selectors cycle (services read through selectors). The
import-linter contract in pyproject.toml names today's modules for `make lint`; this test finds
them by name, so a new app or a new `*_selectors.py` is covered without editing a list."""

import grimp

APPS = ("consortium", "registry", "trials", "screening")


def _leaf(module: str) -> str:
    return module.rsplit(".", 1)[-1]


def test_no_selectors_or_rules_module_imports_any_services_module():
    graph = grimp.build_graph(*APPS)
    reads = sorted(
        m
        for m in graph.modules
        if _leaf(m).endswith("selectors") or _leaf(m) in ("rules", "sections")
    )
    writes = sorted(m for m in graph.modules if _leaf(m).endswith("services"))
    assert "registry.selectors" in reads and "registry.services" in writes  # found by name
    chains = [
        " -> ".join(chain)
        for read in reads
        for write in writes
        if (chain := graph.find_shortest_chain(importer=read, imported=write))
    ]
    assert chains == []
