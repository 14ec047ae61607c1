"""The chart's Grafana dashboard reads metrics a running service exports: its queries against a real /metrics scrape."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.helm_chart import dashboard_queries, metric_names

pytestmark = pytest.mark.integration

#: reported only when the service watches a cluster's nodes (site file pool: {kubernetes: ...}); this service
#: runs the hub's simulated pool (tests/helm/test_dashboard.py checks them against the service's registry)
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
CLUSTER_ONLY = {"npuhub_inventory_synced", "npuhub_inventory_watch_failures_total"}


def test_every_dashboard_metric_is_in_a_real_scrape(start_service):
    svc = start_service()
    admin = svc.client("admin")
    r = admin.http.get(admin.base.rsplit("/api/v1", 1)[0] + "/metrics", timeout=30)
    assert r.status_code == 200, r.text
    # every family the scrape declares (# TYPE), as PromQL names its series: a labelled counter that has
    # counted nothing yet is declared without samples
    scraped = {family.name + suffix for family in text_string_to_metric_families(r.text)
               for suffix in SUFFIXES.get(family.type, ("",))}
    used = set().union(*(metric_names(e) for e in dashboard_queries()))
    assert used & CLUSTER_ONLY == CLUSTER_ONLY  # the exception list names what the dashboard reads
    missing = used - CLUSTER_ONLY - scraped
    assert not missing, f"the dashboard reads {sorted(missing)}, which /metrics does not serve"
