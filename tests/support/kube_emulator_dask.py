"""An emulated dask-kubernetes operator for the Kubernetes API emulator (kube_emulator.py): a stand-in.

No operator can run here (no cluster; the real one is a kopf process that
needs one). This plays, over the emulator's HTTP API, the few things the
real operator (``dask_kubernetes.operator.controller``) does that npuhub's
runner relies on, with the same names and labels:

- a new ``DaskCluster`` gets ``status.phase: Created``, then its scheduler pod
  (``<name>-scheduler-<hex>``, from ``spec.scheduler.spec``), its scheduler
  Service ``<name>-scheduler`` and its default ``DaskWorkerGroup``
  ``<name>-default`` (from ``spec.worker``), then ``Pending``, then ``Running``;
- each ``DaskWorkerGroup`` keeps ``spec.worker.replicas`` worker pods
  (``<group>-worker-<hex>``, labels ``dask.org/cluster-name``,
  ``dask.org/workergroup-name``, ``dask.org/component: worker``, the template's
  and the cluster's labels; ``DASK_WORKER_NAME`` and ``DASK_SCHEDULER_ADDRESS``
  added to the environment), removing the newest first when it shrinks;
- what belonged to a deleted cluster or group (its groups, pods, Service) is
  deleted, as Kubernetes' garbage collector does for owned objects.

Simplified: the real operator makes a Deployment per worker (no Deployment
controller here: pods directly), retires workers through the scheduler's
API, and watches instead of polling. The emulated kubelet runs the pods
(their image must be in its catalogue, e.g. as ``RUNS``).
"""

from __future__ import annotations

import asyncio
import sys
import uuid

import aiohttp

__all__ = ["EmulatedDaskOperator"]

DASK = "/apis/kubernetes.dask.org/v1"
MERGE = {"Content-Type": "application/merge-patch+json"}


class EmulatedDaskOperator:
    """The operator's reconciliation, polled every ``interval`` seconds (see the module's docstring)."""

    def __init__(self, api_url: str, interval: float = 0.2):
        self.api_url = api_url.rstrip("/")
        self.interval = interval
        self.http: aiohttp.ClientSession | None = None

    async def run(self, stopping: asyncio.Event) -> None:
        self.http = aiohttp.ClientSession()
        try:
            while not stopping.is_set():
                try:
                    await self.step()
                except Exception as e:  # keep playing; the tests see it in the log
                    print(f"emulated dask operator: {e!r}", file=sys.stderr)
                await asyncio.sleep(self.interval)
        finally:
            await self.http.close()

    async def _get(self, path: str) -> list[dict]:
        async with self.http.get(self.api_url + path) as r:
            return (await r.json()).get("items") or []

    async def _send(self, method: str, path: str, body: dict | None = None, headers: dict | None = None) -> None:
        async with self.http.request(method, self.api_url + path, json=body, headers=headers) as r:
            if r.status >= 400 and r.status not in (404, 409):
                raise RuntimeError(f"{method} {path}: {r.status} {await r.text()}")

    async def step(self) -> None:
        clusters = {(c["metadata"]["namespace"], c["metadata"]["name"]): c
                    for c in await self._get(f"{DASK}/daskclusters")}
        for (ns, name), cluster in clusters.items():
            await self._cluster(ns, name, cluster)
        groups = await self._get(f"{DASK}/daskworkergroups")
        live_groups = set()
        for group in groups:
            ns, name = group["metadata"]["namespace"], group["metadata"]["name"]
            if (ns, group["spec"]["cluster"]) not in clusters:
                await self._send("DELETE", f"{DASK}/namespaces/{ns}/daskworkergroups/{name}")
                continue
            live_groups.add((ns, name))
            await self._workers(ns, group, clusters[(ns, group["spec"]["cluster"])])
        # the garbage collector: pods and Services of clusters and groups that are gone
        for pod in await self._get("/api/v1/pods"):
            labels, ns = pod["metadata"].get("labels") or {}, pod["metadata"]["namespace"]
            owner = labels.get("dask.org/cluster-name")
            group = labels.get("dask.org/workergroup-name")
            if owner and ((ns, owner) not in clusters or (group and (ns, group) not in live_groups)):
                await self._send("DELETE", f"/api/v1/namespaces/{ns}/pods/{pod['metadata']['name']}")
        for service in await self._get("/api/v1/services"):
            owner = (service["metadata"].get("labels") or {}).get("dask.org/cluster-name")
            ns = service["metadata"]["namespace"]
            if owner and (ns, owner) not in clusters:
                await self._send("DELETE", f"/api/v1/namespaces/{ns}/services/{service['metadata']['name']}")

    async def _cluster(self, ns: str, name: str, cluster: dict) -> None:
        phase = (cluster.get("status") or {}).get("phase")
        path = f"{DASK}/namespaces/{ns}/daskclusters/{name}"
        if phase is None:
            await self._send("PATCH", path, {"status": {"phase": "Created"}}, MERGE)
        elif phase == "Created":
            spec, labels = cluster["spec"], cluster["metadata"].get("labels") or {}
            scheduler = spec["scheduler"]
            pod_labels = {**labels, **((scheduler.get("metadata") or {}).get("labels") or {}),
                          "dask.org/cluster-name": name, "dask.org/component": "scheduler"}
            await self._send("POST", f"/api/v1/namespaces/{ns}/pods", {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": f"{name}-scheduler-{uuid.uuid4().hex[:10]}", "labels": pod_labels,
                             "annotations": (scheduler.get("metadata") or {}).get("annotations") or {}},
                "spec": scheduler["spec"]})
            await self._send("POST", f"/api/v1/namespaces/{ns}/services", {
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": f"{name}-scheduler", "labels": {**labels, "dask.org/cluster-name": name,
                                                                     "dask.org/component": "scheduler"}},
                "spec": scheduler["service"]})
            await self._send("POST", f"{DASK}/namespaces/{ns}/daskworkergroups", {
                "apiVersion": "kubernetes.dask.org/v1", "kind": "DaskWorkerGroup",
                "metadata": {"name": f"{name}-default", "labels": {**labels, "dask.org/cluster-name": name,
                                                                   "dask.org/component": "workergroup"}},
                "spec": {"cluster": name, "worker": spec["worker"]}})
            await self._send("PATCH", path, {"status": {"phase": "Pending"}}, MERGE)
        elif phase == "Pending":
            await self._send("PATCH", path, {"status": {"phase": "Running"}}, MERGE)

    async def _workers(self, ns: str, group: dict, cluster: dict) -> None:
        name = group["metadata"]["name"]
        cluster_name = group["spec"]["cluster"]
        pods = [p for p in await self._get(f"/api/v1/namespaces/{ns}/pods?labelSelector="
                                           f"dask.org/workergroup-name%3D{name}")
                if not p["metadata"].get("deletionTimestamp")]
        worker = group["spec"]["worker"]
        wanted = int(worker.get("replicas", 1))
        for _ in range(wanted - len(pods)):
            pod_name = f"{name}-worker-{uuid.uuid4().hex[:10]}"
            spec = dict(worker["spec"])
            spec["containers"] = [dict(c) for c in spec["containers"]]
            for container in spec["containers"]:
                names = {e["name"] for e in container.get("env") or []}
                added = [{"name": "DASK_WORKER_NAME", "value": pod_name},
                         {"name": "DASK_SCHEDULER_ADDRESS",
                          "value": f"tcp://{cluster_name}-scheduler.{ns}.svc.cluster.local:8786"}]
                container["env"] = list(container.get("env") or []) + [e for e in added if e["name"] not in names]
            labels = {**(cluster["metadata"].get("labels") or {}),
                      **((worker.get("metadata") or {}).get("labels") or {}),
                      "dask.org/cluster-name": cluster_name, "dask.org/workergroup-name": name,
                      "dask.org/component": "worker"}
            await self._send("POST", f"/api/v1/namespaces/{ns}/pods", {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod_name, "labels": labels,
                             "annotations": (worker.get("metadata") or {}).get("annotations") or {}},
                "spec": spec})
        if len(pods) > wanted:
            newest_first = sorted(pods, key=lambda p: int(p["metadata"]["resourceVersion"]), reverse=True)
            for pod in newest_first[:len(pods) - wanted]:
                await self._send("DELETE", f"/api/v1/namespaces/{ns}/pods/{pod['metadata']['name']}")
