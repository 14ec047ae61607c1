"""A Kubernetes API *emulator* for the node inventory: kmock's ``KubernetesEmulator`` on loopback, nodes only.

No real API server can run here (TESTING-HERE.md, "Kubernetes without a
cluster"); this is an API simulation, named so in every test that uses it.
It serves the node list and watch that ``npuhub.inventory.watcher`` reads,
through the real ``kubernetes_asyncio`` client, and lets a test add, change,
cordon and delete nodes over HTTP as ``kubectl`` would.

What kmock 0.8 lacks and this subclass adds: ``?watch=True`` as the asyncio
client spells it (kmock expects ``true``); ``metadata.uid``,
``resourceVersion`` and ``creationTimestamp`` on stored objects; the
``nodes`` resource known before any node exists (else a list is a 404).
What it still does not do: label selectors (the watcher filters by labels
itself), ``timeoutSeconds`` (a watch runs until the client leaves), and
resuming a watch from a resourceVersion (the watcher lists again instead).
The lead may merge it with the spawner's emulator (tests/support/kube_emulator.py).
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path

import requests
import yaml
from kmock import KubernetesEmulator, Server, action, resource

__all__ = ["NodeEmulator", "EmulatedCluster", "node_object"]

NODES = resource(group="", version="v1", plural="nodes")
_versions = itertools.count(1)


class NodeEmulator(KubernetesEmulator):
    """kmock's emulator with what the node watch needs (see the module's docstring)."""

    async def __call__(self, raw_request):
        watch = raw_request.query.get("watch")
        if watch is not None and watch != "true" and watch.lower() in ("true", "1"):
            raw_request = raw_request.clone(rel_url=raw_request.rel_url.update_query(watch="true"))
        return await super().__call__(raw_request)

    async def _handle(self, request):
        if request.resource is not None and isinstance(request.data, dict):
            meta = request.data.setdefault("metadata", {})
            if request.action == action.CREATE:
                meta.setdefault("uid", str(uuid.uuid4()))
                meta.setdefault("creationTimestamp", datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
                request.data.setdefault("status", {})
            if request.action in (action.CREATE, action.UPDATE):
                meta["resourceVersion"] = str(next(_versions))
        return await super()._handle(request)

    def _get_resources(self):
        return list({*super()._get_resources(), NODES})


def node_object(name: str, devices: int, labels: dict[str, str], resource_name: str,
                unschedulable: bool = False) -> dict:
    """A Node as the API serves it: labels, ``spec.unschedulable``, allocatable devices, a Ready condition."""
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {"unschedulable": unschedulable},
        "status": {"allocatable": {resource_name: str(devices), "cpu": "64", "memory": "256Gi", "pods": "110"},
                   "capacity": {resource_name: str(devices), "cpu": "64", "memory": "256Gi", "pods": "110"},
                   "conditions": [{"type": "Ready", "status": "True"}]},
    }


class EmulatedCluster:
    """The emulator served on a free loopback port from a thread of its own, and ``kubectl``-like calls."""

    def __init__(self):
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.url = ""
        self.emulator: NodeEmulator | None = None
        self._thread = threading.Thread(target=self._serve, name="kube-api-emulator", daemon=True)

    def __enter__(self) -> EmulatedCluster:
        self._thread.start()
        if not self._ready.wait(20):
            raise RuntimeError("the Kubernetes API emulator did not start")
        return self

    def __exit__(self, *exc) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with NodeEmulator() as emulator, Server(emulator) as server:
            self.emulator = emulator
            self.url = str(server.url).rstrip("/")
            self._ready.set()
            await self._stop.wait()

    def kubeconfig(self, path: Path) -> Path:
        """A kubeconfig file that points at the emulator (plain HTTP on loopback, no credentials)."""
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "emulator",
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "emulator", "user": {}}],
            "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "emulator"}}],
        }))
        return path

    # -- what an operator (or the cluster) does to nodes -----------------------------------
    def add_node(self, name: str, devices: int, labels: dict[str, str], resource_name: str,
                 unschedulable: bool = False) -> None:
        r = requests.post(f"{self.url}/api/v1/nodes", json=node_object(name, devices, labels, resource_name,
                                                                         unschedulable), timeout=10)
        r.raise_for_status()

    def patch_node(self, name: str, patch: dict) -> None:
        r = requests.patch(f"{self.url}/api/v1/nodes/{name}", json=patch, timeout=10)
        r.raise_for_status()

    def cordon(self, name: str, cordoned: bool = True) -> None:
        """``kubectl cordon`` (or ``uncordon``)."""
        self.patch_node(name, {"spec": {"unschedulable": cordoned}})

    def set_allocatable(self, name: str, resource_name: str, devices: int) -> None:
        self.patch_node(name, {"status": {"allocatable": {resource_name: str(devices)}}})

    def delete_node(self, name: str) -> None:
        """``kubectl delete node``."""
        r = requests.delete(f"{self.url}/api/v1/nodes/{name}", timeout=10)
        r.raise_for_status()
