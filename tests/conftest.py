"""What every tier shares: the end-of-run list of real parts whose tests were skipped.

Each tier's fixtures live in its own ``conftest.py``; the helpers they share
are the ``support`` package (tests/ is on ``pythonpath``, see pyproject.toml).
"""

from __future__ import annotations

from support.summary import pytest_terminal_summary  # noqa: F401 (a hook: pytest finds it here)


#: The tiers in the order their files go to the parallel workers (``make test``: ``pytest -n 2 --dist loadfile
#: --no-loadscope-reorder``): the slow ones first, so that the unit tier's many short files even out the
#: workers' ends. (xdist's own order, the files with the most tests first, left the slowest for last.)
TIER_ORDER = ["reliability", "integration", "kubernetes", "browser", "labext", "service", "frontend", "docs", "helm",
              "cluster", "unit"]


def pytest_collection_modifyitems(config, items):
    """Run the tiers in ``TIER_ORDER``; the order of files within a tier, and of tests within a file, stays."""
    tests = config.rootpath / "tests"

    def tier(item) -> int:
        try:
            name = item.path.relative_to(tests).parts[0]
        except ValueError:
            return len(TIER_ORDER)
        return TIER_ORDER.index(name) if name in TIER_ORDER else len(TIER_ORDER)

    items.sort(key=tier)
