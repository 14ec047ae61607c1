"""The end-of-run list of real parts whose tests were skipped (a pytest plugin; tests/conftest.py loads it).

Under pytest-xdist the hook runs in the controller, which gets every worker's
reports (a skip's reason included), so the list covers the whole run.
"""

from __future__ import annotations

from support.parts import REQUIRE_ALL, missing_parts


def pytest_terminal_summary(terminalreporter):
    """Say loudly which real parts were missing, so a green run on a laptop is not taken for a full one."""
    reasons = [report.longrepr[2] for report in terminalreporter.stats.get("skipped", [])
               if isinstance(report.longrepr, tuple)]
    not_run = sum(1 for reason in reasons if "not run: no Kubernetes cluster" in reason)
    if not_run:
        terminalreporter.section("real-cluster suite (tests/cluster): NOT RUN, no Kubernetes cluster", sep="-",
                                 yellow=True)
        terminalreporter.line(f"  {not_run} test{'s' if not_run > 1 else ''} not run; an operator runs them "
                              "against a cluster (docs/guides/operator.md)", yellow=True)
    missing = missing_parts(reasons)
    if not missing:
        return
    terminalreporter.section("real parts missing: their tests were SKIPPED, not passed", sep="!",
                             red=True, bold=True)
    for part, count in sorted(missing.items()):
        terminalreporter.line(f"  {part}: {count} test{'s' if count > 1 else ''} skipped", yellow=True)
    if not REQUIRE_ALL:
        terminalreporter.line("Install them (scripts/install-test-deps.sh), or set NPUHUB_REQUIRE_ALL=1 "
                              "to make each missing part a failure, as CI does.")
