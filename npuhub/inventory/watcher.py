"""One cached watch over the cluster's nodes: list, then watch, then list again; never a poll per request.

``NodeWatcher.run()`` keeps ``nodes`` (name -> NodeSpec, only nodes of the
site's device models) as the API server tells it, and calls ``on_change``
with the whole list after every change. A watch ends after
``resync_seconds`` (the server closes it), and the watcher lists again, so a
missed event is repaired within that time. While the API server cannot be
reached, the last list is kept as it is: an unreachable API never takes a
node away.

RBAC: the service's account needs ``list`` and ``watch`` on ``nodes`` (a
ClusterRole; see docs/guides/operator.md).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

try:
    from kubernetes_asyncio import client, config as kube_config, watch
except ImportError:  # the "kubernetes" extra is not installed: fine for a site without pool.kubernetes
    client = kube_config = watch = None

from ..pool import NodeSpec
from .config import KubernetesPool
from .nodes import node_spec

__all__ = ["NodeWatcher", "load_kube_client"]

#: seconds a list of nodes may take
LIST_TIMEOUT = 30
#: seconds past resync_seconds after which the client ends a watch the server has not ended
WATCH_GRACE = 5


async def load_kube_client(kubeconfig: str = "") -> client.ApiClient:
    """An API client: from ``kubeconfig`` (a file) when given, else the pod's service account, else $KUBECONFIG."""
    configuration = client.Configuration()
    if kubeconfig:
        await kube_config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    else:
        try:
            kube_config.load_incluster_config(client_configuration=configuration)
        except kube_config.ConfigException:
            await kube_config.load_kube_config(client_configuration=configuration)
    return client.ApiClient(configuration)


class NodeWatcher:
    """The cluster's nodes as the pool sees them, kept current by a watch."""

    def __init__(self, settings: KubernetesPool, resources: dict[str, str],
                 on_change: Callable[[list[NodeSpec]], Awaitable[None]],
                 api_factory: Callable[[], Awaitable[client.ApiClient]], log: logging.Logger | None = None):
        if client is None:
            raise ValueError("pool.kubernetes needs the Kubernetes client: pip install 'npuhub[kubernetes]'")
        self.settings = settings
        #: device model -> the allocatable resource that counts its devices
        self.resources = resources
        self.on_change = on_change
        self.api_factory = api_factory
        self.log = log or logging.getLogger("npuhub.inventory")
        self.nodes: dict[str, NodeSpec] = {}
        #: set once the first list has arrived (the service loads its state only then)
        self.synced = asyncio.Event()
        #: watch events seen, lists made, and failures (for metrics and tests)
        self.events = 0
        self.lists = 0
        self.failures = 0
        self.last_error: str | None = None

    def spec(self, raw: dict) -> NodeSpec | None:
        return node_spec(raw, self.settings.models, self.resources)

    async def run(self) -> None:
        """List and watch until cancelled; on an error, wait (1 s, doubling to 30 s) and list again."""
        backoff = 1.0
        while True:
            try:
                api = await self.api_factory()
                try:
                    await self._list_and_watch(api)
                finally:
                    await api.close()
                backoff = 1.0
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 (any failure of the API: keep the last list, try again)
                self.failures += 1
                self.last_error = f"{type(e).__name__}: {e}"[:300]
                self.log.warning("The node watch failed (%s); keeping the %d nodes last seen, listing again in %.0fs",
                                 self.last_error, len(self.nodes), backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)

    async def _list_and_watch(self, api: client.ApiClient) -> None:
        v1 = client.CoreV1Api(api)
        selector = self.settings.label_selector()
        kwargs = {"label_selector": selector} if selector else {}
        listed = await v1.list_node(_request_timeout=LIST_TIMEOUT, **kwargs)
        nodes = {}
        for item in listed.items:
            spec = self.spec(api.sanitize_for_serialization(item))
            if spec is not None:
                nodes[spec.name] = spec
        self.lists += 1
        await self._replace(nodes)
        self.synced.set()
        stream = watch.Watch()
        try:
            # the server ends the watch after resync_seconds; the client gives up a little later, so that a
            # connection that hangs without a word (an API server gone, a network cut) is noticed too
            async for event in stream.stream(v1.list_node, resource_version=listed.metadata.resource_version,
                                             timeout_seconds=self.settings.resync_seconds,
                                             _request_timeout=self.settings.resync_seconds + WATCH_GRACE, **kwargs):
                self.events += 1
                raw = event.get("raw_object") or {}
                name = (raw.get("metadata") or {}).get("name")
                if not name:
                    continue
                nodes = dict(self.nodes)
                spec = self.spec(raw) if event.get("type") != "DELETED" else None
                if spec is None:
                    nodes.pop(name, None)  # deleted, or no longer labelled as one of our models
                else:
                    nodes[name] = spec
                await self._replace(nodes)
        finally:
            await stream.close()

    async def _replace(self, nodes: dict[str, NodeSpec]) -> None:
        if nodes == self.nodes and self.synced.is_set():
            return
        self.nodes = nodes
        await self.on_change(sorted(nodes.values(), key=lambda n: n.name))
