"""The Grafana dashboard's queries name only metrics, and group only by labels, that the service exports.

The exported names come from the service's own metrics (npuhub/service/metrics.py: its registry, with the
state collector over a real admission core on the example site, and the inventory collector), as
Prometheus would scrape them: a counter ``x`` is ``x_total``, a histogram ``x_bucket``/``_sum``/``_count``.
tests/service/test_dashboard_scrape.py checks the same queries against a running service's /metrics.
"""

from __future__ import annotations

import asyncio
import re
import time
import types

import pytest

from support.helm_chart import dashboard_queries, metric_names

pytestmark = pytest.mark.helm

SUFFIXES = {"gauge": ("",), "counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created")}


def grouping_labels(expr: str) -> set[str]:
    labels = set()
    for group in re.findall(r"\bby \(([^)]*)\)", expr):
        labels |= {g.strip() for g in group.split(",") if g.strip()}
    for selector in re.findall(r"\{([^}]*)\}", expr):
        labels |= set(re.findall(r"([a-z_]+)\s*=", selector))
    return labels


def exported() -> dict[str, set[str]]:
    """Sample name -> its label names, for every metric the service exports."""
    from prometheus_client.metrics import MetricWrapperBase

    from npuhub.admission.core import Admission
    from npuhub.service.metrics import Metrics
    from npuhub.site_config import load_site_config

    metrics = Metrics()
    metrics.watch(types.SimpleNamespace(adm=Admission(load_site_config(), time.time)))
    watcher = types.SimpleNamespace(synced=asyncio.Event(), events=0, failures=0)
    metrics.watch_inventory(types.SimpleNamespace(watcher=watcher))
    declared = {m._name: set(m._labelnames) for m in vars(metrics).values() if isinstance(m, MetricWrapperBase)}
    names: dict[str, set[str]] = {}
    for family in metrics.registry.collect():
        labels = declared.get(family.name, set()) | {k for s in family.samples for k in s.labels}
        for suffix in SUFFIXES[family.type]:
            names[family.name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return names


def test_every_query_names_exported_metrics_and_their_labels():
    names = exported()
    queries = dashboard_queries()
    assert len(queries) >= 15
    for expr in queries:
        used = metric_names(expr)
        assert used, f"no npuhub metric in {expr!r}"
        unknown = used - set(names)
        assert not unknown, f"{expr!r} names {unknown}, which the service does not export"
        labels = set().union(*(names[n] for n in used))
        assert grouping_labels(expr) <= labels, f"{expr!r} groups by labels {grouping_labels(expr) - labels}"


def test_the_dashboard_covers_the_pool_the_queue_waits_and_budgets():
    used = set().union(*(metric_names(e) for e in dashboard_queries()))
    for needed in ("npuhub_slices_held_devices", "npuhub_slices_free_devices", "npuhub_queue_length",
                   "npuhub_queue_wait_seconds_bucket", "npuhub_quota_burn_device_seconds_total",
                   "npuhub_budget_stops_total"):
        assert needed in used


def test_the_checker_refuses_a_metric_the_service_does_not_export():
    names = exported()
    assert "npuhub_queue_length" in names and "npuhub_inventory_watch_failures_total" in names
    # a counter without its _total suffix is not what Prometheus scrapes
    assert "npuhub_admission_decisions" not in names
    assert grouping_labels('sum by (le, flavor) (rate(x_bucket{outcome="refused"}[5m]))') == {"le", "flavor", "outcome"}
