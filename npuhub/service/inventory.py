"""The service's side of the cluster inventory: the node watch feeds the admission core, losses are reported.

Started by the leader only (``app.py``), before the admission state is
loaded: the first list of nodes is the pool the state is restored into.
Every change of the node list becomes one ``Engine.change`` (the core's
``apply_nodes``): a node added serves the queue in the same transaction, a
lost node's grants end with ``node_lost``. The hub is then asked to stop
those servers (their pods went with the node), and the metrics count them.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from ..inventory.config import KubernetesPool, resolve_resource
from ..inventory.watcher import NodeWatcher, load_kube_client
from ..pool import NodeSpec
from .engine import Engine
from .errors import APIError
from .hubapi import HubClient, HubUnavailable
from .metrics import Metrics

__all__ = ["ClusterInventory"]


class ClusterInventory:
    """Keeps the admission core's pool equal to the cluster's nodes."""

    def __init__(self, engine: Engine, settings: KubernetesPool, kubeconfig: str, hub: HubClient | None,
                 metrics: Metrics, log: logging.Logger):
        self.engine = engine
        self.hub = hub
        self.metrics = metrics
        self.log = log
        self.settings = settings
        backends = engine.site.backends

        def backend_resource(model: str) -> str | None:
            backend = backends.get(model)
            return backend.device_resource() if backend is not None else None

        resources = {m.model: resolve_resource(m, backend_resource) for m in settings.models}
        self.watcher = NodeWatcher(settings, resources, self._changed, lambda: load_kube_client(kubeconfig), log)
        metrics.watch_inventory(self)
        self._stops: set[asyncio.Task] = set()

    @property
    def synced(self) -> bool:
        return self.watcher.synced.is_set()

    async def _changed(self, nodes: list[NodeSpec]) -> None:
        # a reload of the state (after a database outage) builds its pool from these nodes
        self.engine.site = replace(self.engine.site, nodes=tuple(nodes))
        await self.apply()

    async def apply(self) -> None:
        """Make the loaded state's pool the nodes last seen (after each change, and after each (re)load)."""
        if not self.synced or self.engine.adm is None or not self.engine.available:
            return
        nodes = list(self.watcher.nodes.values())
        try:
            ended = await self.engine.change(lambda adm: adm.apply_nodes(nodes), "nodes")
        except APIError:
            return  # the database is away: the reload after it returns applies them
        for req in ended:
            self.metrics.node_lost.inc()
            self.log.warning("Request %s of %s ended: its node %s left the cluster (node_lost)",
                             req.id, req.user, req.grant.node if req.grant else "?")
            if self.hub is not None:
                task = asyncio.create_task(self._stop_server(req.user, req.server))
                self._stops.add(task)
                task.add_done_callback(self._stops.discard)

    async def _stop_server(self, user: str, server: str) -> None:
        try:
            await self.hub.stop_server(user, server)
        except HubUnavailable as e:
            self.log.warning("Could not ask the hub to stop %s's server %r after its node was lost: %s", user, server, e)

    async def start(self, timeout: float) -> asyncio.Task:
        """Start the watch; wait up to ``timeout`` seconds for the first list. Returns the watch's task."""
        task = asyncio.create_task(self.watcher.run())
        try:
            await asyncio.wait_for(self.watcher.synced.wait(), timeout)
            self.log.info("Cluster inventory: %d node(s) of %s", len(self.watcher.nodes),
                          ", ".join(m.model for m in self.settings.models))
        except asyncio.TimeoutError:
            self.log.error("No list of nodes from the Kubernetes API within %ss (%s); starting with none. Grants on "
                           "nodes not yet seen are kept and placed again when their node is listed.",
                           timeout, self.watcher.last_error or "no answer")
        return task
