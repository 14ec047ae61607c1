"""Prometheus metrics of the service: the queue, the pool, quota burn, decisions, and the database's health.

Counters and histograms are updated as things happen (only after the change
is committed); the queue and the pool are read from the admission state when
Prometheus scrapes, so they are never stale.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

if TYPE_CHECKING:  # pragma: no cover
    from .engine import Engine

__all__ = ["Metrics"]

#: Queue waits run from seconds (a free slice) to hours (a full pool at a deadline).
WAIT_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 43200, 86400)


class Metrics:
    """The service's metrics, in a registry of its own (one per service instance)."""

    def __init__(self):
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.decisions = Counter(
            "npuhub_admission_decisions", "Answers to requests for a slice, by outcome (granted, waiting, "
            "refused) and reason (the refusal's machine code, empty otherwise).",
            ["outcome", "reason"], registry=r)
        self.queue_wait = Histogram(
            "npuhub_queue_wait_seconds", "Time from a request's arrival to its grant, by flavor.",
            ["flavor"], buckets=WAIT_BUCKETS, registry=r)
        self.burn = Counter(
            "npuhub_quota_burn_device_seconds", "Device-seconds charged to budgets (a share times the time "
            "held), by flavor.", ["flavor"], registry=r)
        self.store_available = Gauge(
            "npuhub_store_available", "1 while the admission database answers, 0 while it cannot be reached.",
            registry=r)
        self.store_refusals = Counter(
            "npuhub_store_unavailable_refusals", "Requests refused because the admission database could not "
            "be reached, by operation.", ["operation"], registry=r)
        self.commit_groups = Histogram(
            "npuhub_commit_group_changes", "Changes committed together in one transaction (group commit).",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512), registry=r)
        self.budget_warnings = Counter(
            "npuhub_budget_warnings", "Running sessions warned that their budget is spent.", registry=r)
        self.budget_stops = Counter(
            "npuhub_budget_stops", "Running sessions stopped after their budget was spent and the grace "
            "period passed.", registry=r)

        self.node_lost = Counter(
            "npuhub_node_lost_grants", "Grants ended because their node left the cluster (reason node_lost).",
            registry=r)
        self.leader = Gauge(
            "npuhub_service_leader", "1 while this service process holds the leader lock (the one writer), "
            "0 while it waits as a standby.", registry=r)

    def watch_inventory(self, inventory) -> None:
        """Report the cluster inventory's watch (``service.inventory.ClusterInventory``) at every scrape."""
        self.registry.register(_InventoryCollector(inventory))

    def watch(self, engine: Engine) -> None:
        """Report the queue and the pool of ``engine`` at every scrape."""
        self.registry.register(_StateCollector(engine))


class _StateCollector:
    def __init__(self, engine: Engine):
        self.engine = engine

    def describe(self):
        return []

    def collect(self):
        length = GaugeMetricFamily("npuhub_queue_length", "Waiting requests, by flavor.", labels=["flavor"])
        oldest = GaugeMetricFamily("npuhub_queue_oldest_wait_seconds",
                                   "How long the longest-waiting request of each flavor has waited.",
                                   labels=["flavor"])
        held = GaugeMetricFamily("npuhub_slices_held_devices",
                                 "Devices held by sessions and reservations, by device model.", labels=["model"])
        free = GaugeMetricFamily("npuhub_slices_free_devices", "Devices free, by device model.", labels=["model"])
        capacity = GaugeMetricFamily("npuhub_slices_capacity_devices", "Devices in the pool, by device model.",
                                     labels=["model"])
        granted = GaugeMetricFamily("npuhub_sessions_granted", "Requests holding a slice now, by flavor.",
                                    labels=["flavor"])
        apart = GaugeMetricFamily("npuhub_slices_held_apart_devices",
                                  "Devices held on nodes that take no new grant (cordoned, not ready) or on devices "
                                  "a node no longer offers, by device model.", labels=["model"])
        nodes = GaugeMetricFamily("npuhub_pool_nodes", "Nodes of the pool, by device model and state "
                                  "(schedulable, cordoned).", labels=["model", "state"])
        on_cordoned = GaugeMetricFamily("npuhub_sessions_on_cordoned_nodes",
                                        "Granted requests running on cordoned or not-ready nodes.")
        adm = self.engine.adm
        if adm is not None:
            now = time.time()
            counts: dict[str, int] = {}
            ages: dict[str, float] = {}
            running: dict[str, int] = {}
            for req in list(adm.requests.values()):
                if req.state.value == "waiting":
                    counts[req.flavor] = counts.get(req.flavor, 0) + 1
                    ages[req.flavor] = max(ages.get(req.flavor, 0.0), now - req.arrived)
                elif req.state.value == "granted":
                    running[req.flavor] = running.get(req.flavor, 0) + 1
            for flavor in adm.catalogue:
                length.add_metric([flavor.id], counts.get(flavor.id, 0))
                oldest.add_metric([flavor.id], ages.get(flavor.id, 0.0))
                granted.add_metric([flavor.id], running.get(flavor.id, 0))
            for model in adm.pool.models:
                cap = adm.pool.capacity(model)
                used = adm.pool.held(model)
                held.add_metric([model], float(used))
                free.add_metric([model], float(cap - used))
                capacity.add_metric([model], float(cap))
                apart.add_metric([model], float(adm.pool.held_apart(model)))
                specs = [n for n in adm.pool.nodes.values() if n.model == model]
                nodes.add_metric([model, "schedulable"], sum(1 for n in specs if n.schedulable))
                nodes.add_metric([model, "cordoned"], sum(1 for n in specs if not n.schedulable))
            on_cordoned.add_metric([], sum(len(adm.on_node(n.name)) for n in adm.pool.nodes.values()
                                           if not n.schedulable))
        yield from (length, oldest, granted, held, free, capacity, apart, nodes, on_cordoned)


class _InventoryCollector:
    def __init__(self, inventory):
        self.inventory = inventory

    def describe(self):
        return []

    def collect(self):
        watcher = self.inventory.watcher
        synced = GaugeMetricFamily("npuhub_inventory_synced", "1 once the node watch has listed the cluster's nodes.")
        synced.add_metric([], 1 if watcher.synced.is_set() else 0)
        events = CounterMetricFamily("npuhub_inventory_watch_events", "Node watch events received.")
        events.add_metric([], watcher.events)
        failures = CounterMetricFamily("npuhub_inventory_watch_failures",
                                       "Node watch failures (the last list is kept; the watch starts again).")
        failures.add_metric([], watcher.failures)
        yield from (synced, events, failures)
