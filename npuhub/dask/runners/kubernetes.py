"""Dask clusters in Kubernetes: the dask-kubernetes operator's ``DaskCluster`` in the person's namespace.

The service creates, scales and deletes the objects with its OWN service
account: a person never gets the right to create pods, so her code cannot
touch another person's pods (the hole of plain dask-kubernetes). The objects
(``kube_objects``) are the operator's custom resources; the operator (its
Helm chart is a dependency of npuhub's) turns them into the scheduler's and
workers' pods.

Namespace: the one the person's server pods run in, as ``KubeNPUSpawner``
picks it: the site file's ``spawner.kubernetes.namespace``, else the
namespace the service itself runs in (its service account's), else
``default``.

- ``start``: create the ``DaskCluster`` (idempotent), wait until the operator
  says it runs and its scheduler pod is ready, return the scheduler's Service
  addresses.
- ``scale``: one ``DaskWorkerGroup`` per placement of the admitted workers
  (see ``kube_objects``), its replicas the number of workers of that placement;
  groups no worker needs any more are deleted.
- ``stop``: delete the cluster's worker groups and the ``DaskCluster`` (the
  operator's objects under it are owned by it and go with it), then its
  NetworkPolicy.
- Isolation: before the ``DaskCluster``, a NetworkPolicy lets only the
  cluster's own pods, its owner's servers and the npuhub service connect to
  its pods (``kube_objects.network_policy``): Dask's scheduler runs the code
  any client sends.
- ``ready_workers``: the cluster's worker pods whose Ready condition is true;
  ``scheduler_alive``: false once its scheduler pod is gone or its container
  ended (``--idle-timeout``, a crash), so the service closes the cluster.
- ``adopt``: after the service restarted, a cluster whose ``DaskCluster`` and
  certificate Secret are still there is taken back as it is.
- TLS: every cluster has its own certificate (``Security.temporary``, as the
  embedded runner), in the Secret ``<name>-tls`` mounted read-only in its pods;
  the scheduler accepts TLS connections with it only. The owner's client gets
  it from the service (``Endpoints.tls``).

RBAC (the service's Role in that namespace; docs/guides/operator.md): ``RBAC``
below. ``tests/kubernetes`` checks that these are exactly the calls the runner
makes and that the chart's Role grants them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Awaitable, Callable

from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

from ...i18n import Text
from .base import ClusterRunner, ClusterSpec, Endpoints, WorkerGrant
from .kube_objects import (CLUSTERS, GROUP, LABEL_CLUSTER, VERSION, WORKER_GROUPS, cluster_name, daskcluster,
                           dashboard_url, label_value, network_policy, scheduler_address, tls_of_secret,
                           tls_secret, worker_groups)

__all__ = ["KubernetesRunner", "DaskClusterError", "default_namespace", "RBAC"]

#: What the runner asks of the API: (API group, resource, verb). The service's Role must grant these in the
#: namespace of the person's pods (the chart's Role ``npuhub``; tests/kubernetes compares both with the calls).
RBAC = frozenset({
    (GROUP, CLUSTERS, "create"), (GROUP, CLUSTERS, "get"), (GROUP, CLUSTERS, "delete"),
    (GROUP, WORKER_GROUPS, "create"), (GROUP, WORKER_GROUPS, "list"), (GROUP, WORKER_GROUPS, "patch"),
    (GROUP, WORKER_GROUPS, "delete"),
    ("", "pods", "list"),
    ("networking.k8s.io", "networkpolicies", "create"), ("networking.k8s.io", "networkpolicies", "delete"),
    ("", "secrets", "create"), ("", "secrets", "get"), ("", "secrets", "delete"),
})

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
MERGE_PATCH = "application/merge-patch+json"
#: KubeNPUSpawner's default image, for a site that names none
DEFAULT_IMAGE = "quay.io/jupyter/base-notebook:latest"


def default_namespace(configured: str | None = None) -> str:
    """The namespace of the person's pods: the site's, else the service's own (its service account's), else default."""
    if configured:
        return configured
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "default"
    except OSError:
        return "default"


class DaskClusterError(RuntimeError):
    """A cluster that could not be started: ``text`` says why, in both languages."""

    def __init__(self, text: Text, detail: str = ""):
        self.text = text
        super().__init__(f"{text.en} ({detail})" if detail else text.en)


class KubernetesRunner(ClusterRunner):
    """Runs each cluster as the dask-kubernetes operator's objects (see the module's docstring)."""

    def __init__(self, api_factory: Callable[[], Awaitable[client.ApiClient]], namespace: str | None = None, *,
                 image: str | None = None, start_timeout: float = 300.0, poll_interval: float = 1.0,
                 network_policies: bool = True, log: logging.Logger | None = None):
        self.api_factory = api_factory
        #: the image of a flavor that names none: the site's (``spawner.kubernetes.image``), as for servers
        self.image = image or DEFAULT_IMAGE
        #: a NetworkPolicy per cluster: only its own pods, its owner's servers and the service reach it
        self.network_policies = network_policies
        self.namespace = default_namespace(namespace)
        self.start_timeout = start_timeout
        self.poll_interval = poll_interval
        self.log = log or logging.getLogger("npuhub.dask.kubernetes")
        self._api: client.ApiClient | None = None
        #: clusters whose scheduler ended (idle timeout, crash) or went, as the last look at their pods saw
        self._ended: set[str] = set()

    async def _client(self) -> client.ApiClient:
        if self._api is None:
            self._api = await self.api_factory()
        return self._api

    async def close(self) -> None:
        """Close the API client (the service's shutdown)."""
        if self._api is not None:
            await self._api.close()
            self._api = None

    async def _custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(await self._client())

    # -- the contract --------------------------------------------------------------------------------
    def _with_image(self, spec: ClusterSpec) -> ClusterSpec:
        return spec if spec.image else replace(spec, image=self.image)

    async def start(self, spec: ClusterSpec) -> Endpoints:
        spec = self._with_image(spec)
        name = cluster_name(spec)
        api = await self._custom()
        tls = await self._tls(spec)
        if self.network_policies:  # before the scheduler: no moment where any pod may connect to it
            try:
                await client.NetworkingV1Api(await self._client()).create_namespaced_network_policy(
                    self.namespace, network_policy(spec, self.namespace))
            except ApiException as e:
                if e.status != 409:
                    raise DaskClusterError(_text("dask_cluster_refused"), f"{e.status} {e.reason}") from e
        try:
            await api.create_namespaced_custom_object(GROUP, VERSION, self.namespace, CLUSTERS,
                                                      daskcluster(spec, self.namespace))
            self.log.info("DaskCluster %s/%s created for %s", self.namespace, name, spec.user)
        except ApiException as e:
            if e.status != 409:  # 409: it exists (a start retried): wait for it as it is
                await self.stop(spec)  # nothing of a cluster that cannot be is left (its Secret, its policy)
                # 404: the API does not know DaskCluster: the operator's CRDs are not installed
                key = "dask_operator_missing" if e.status == 404 else "dask_cluster_refused"
                raise DaskClusterError(_text(key), f"{e.status} {e.reason}") from e
        self._ended.discard(spec.id)
        await self._wait_running(spec, name)
        return self._endpoints(spec, tls)

    async def adopt(self, spec: ClusterSpec) -> Endpoints | None:
        """After the service restarted: the cluster's endpoints if its DaskCluster and certificate are still there."""
        name = cluster_name(spec)
        try:
            obj = await (await self._custom()).get_namespaced_custom_object(GROUP, VERSION, self.namespace,
                                                                            CLUSTERS, name)
            secret = await client.CoreV1Api(await self._client()).read_namespaced_secret(f"{name}-tls",
                                                                                         self.namespace)
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        tls = tls_of_secret((await self._client()).sanitize_for_serialization(secret))
        if (obj.get("metadata") or {}).get("deletionTimestamp") or tls is None:
            return None
        return self._endpoints(spec, tls)

    async def scale(self, spec: ClusterSpec, workers: list[WorkerGrant]) -> None:
        spec = self._with_image(spec)
        api = await self._custom()
        wanted = worker_groups(spec, self.namespace, workers)
        have = {g["metadata"]["name"]: g for g in await self._groups(spec)}
        for name, group in wanted.items():
            if name not in have:
                try:
                    await api.create_namespaced_custom_object(GROUP, VERSION, self.namespace, WORKER_GROUPS, group)
                    continue
                except ApiException as e:
                    if e.status != 409:
                        raise
            current = have.get(name) or {}
            replicas = group["spec"]["worker"]["replicas"]
            annotations = group["metadata"]["annotations"]
            if (((current.get("spec") or {}).get("worker") or {}).get("replicas") != replicas
                    or (current.get("metadata") or {}).get("annotations") != annotations):
                await api.patch_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, WORKER_GROUPS, name,
                    {"metadata": {"annotations": annotations}, "spec": {"worker": {"replicas": replicas}}},
                    _content_type=MERGE_PATCH)
        for name in set(have) - set(wanted):
            await self._delete(WORKER_GROUPS, name)

    async def stop_all(self) -> None:
        """The service stops: its clusters go on running (the next leader adopts them); the API client closes."""
        await self.close()

    async def stop(self, spec: ClusterSpec) -> None:
        for group in await self._groups(spec):
            await self._delete(WORKER_GROUPS, group["metadata"]["name"])
        name = cluster_name(spec)
        await self._delete(CLUSTERS, name)
        core = client.CoreV1Api(await self._client())
        deletions = [lambda: core.delete_namespaced_secret(f"{name}-tls", self.namespace)]
        if self.network_policies:
            networking = client.NetworkingV1Api(await self._client())
            deletions.append(lambda: networking.delete_namespaced_network_policy(name, self.namespace))
        for delete in deletions:
            try:
                await delete()
            except ApiException as e:
                if e.status != 404:  # already gone: stop is idempotent
                    raise

    async def ready_workers(self, spec: ClusterSpec) -> int:
        """The cluster's ready worker pods; also notes whether its scheduler ended (``scheduler_alive``)."""
        pods = (await client.CoreV1Api(await self._client()).list_namespaced_pod(
            self.namespace, label_selector=f"dask.org/cluster-name={cluster_name(spec)}")).items
        schedulers = [p for p in pods if (p.metadata.labels or {}).get("dask.org/component") == "scheduler"]
        if not schedulers or any(_ended(p) for p in schedulers):
            self._ended.add(spec.id)
        else:
            self._ended.discard(spec.id)
        return sum(1 for p in pods if (p.metadata.labels or {}).get("dask.org/component") == "worker" and _ready(p))

    def scheduler_alive(self, spec: ClusterSpec) -> bool:
        """False once the cluster's scheduler pod was seen gone or its container ended (its ``--idle-timeout``,
        a crash): the service then closes the cluster. Kept from the last ``ready_workers``."""
        return spec.id not in self._ended

    # -- helpers ---------------------------------------------------------------------------------------
    async def _groups(self, spec: ClusterSpec) -> list[dict]:
        api = await self._custom()
        found = await api.list_namespaced_custom_object(
            GROUP, VERSION, self.namespace, WORKER_GROUPS,
            label_selector=f"{LABEL_CLUSTER}={label_value(spec.id)}")
        return list(found.get("items") or [])

    async def _delete(self, plural: str, name: str) -> None:
        api = await self._custom()
        try:
            await api.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, plural, name,
                                                      propagation_policy="Background")
        except ApiException as e:
            if e.status != 404:  # already gone: stop is idempotent
                raise

    def _endpoints(self, spec: ClusterSpec, tls: dict[str, str]) -> Endpoints:
        name = cluster_name(spec)
        return Endpoints(scheduler_address(name, self.namespace), dashboard_url(name, self.namespace, spec.id), tls)

    async def _tls(self, spec: ClusterSpec) -> dict[str, str]:
        """The cluster's certificate: a new one in its Secret, or the one a start before this one made."""
        from distributed.security import Security

        security = Security.temporary()
        tls = {"ca": security.tls_ca_file, "cert": security.tls_ca_file, "key": security.tls_scheduler_key}
        core = client.CoreV1Api(await self._client())
        try:
            await core.create_namespaced_secret(self.namespace, tls_secret(spec, self.namespace, tls))
            return tls
        except ApiException as e:
            if e.status != 409:
                raise DaskClusterError(_text("dask_cluster_refused"), f"{e.status} {e.reason}") from e
        secret = await core.read_namespaced_secret(f"{cluster_name(spec)}-tls", self.namespace)
        return tls_of_secret((await self._client()).sanitize_for_serialization(secret)) or tls

    async def _wait_running(self, spec: ClusterSpec, name: str) -> None:
        """Until the operator marks the cluster Running and its scheduler pod is ready; raise when it cannot be."""
        api = await self._custom()
        core = client.CoreV1Api(await self._client())
        deadline = time.monotonic() + self.start_timeout
        phase = None
        while True:
            try:
                obj = await api.get_namespaced_custom_object(GROUP, VERSION, self.namespace, CLUSTERS, name)
            except ApiException as e:
                if e.status == 404:
                    raise DaskClusterError(_text("dask_cluster_gone"), name) from e
                raise
            phase = (obj.get("status") or {}).get("phase")
            if phase == "Error":
                raise DaskClusterError(_text("dask_cluster_refused"), f"the operator marked {name} Error")
            if phase == "Running":
                pods = await core.list_namespaced_pod(
                    self.namespace, label_selector=f"dask.org/cluster-name={name},dask.org/component=scheduler")
                if any(_ready(pod) for pod in pods.items):
                    return
            if time.monotonic() > deadline:
                await self.stop(spec)
                raise DaskClusterError(_text("dask_cluster_timeout").format(seconds=int(self.start_timeout)),
                                       f"{name} still {phase or 'without a phase'}")
            await asyncio.sleep(self.poll_interval)


def _ended(pod) -> bool:
    """The pod's container ended once (it restarted or stays terminated), or the pod is being deleted."""
    if pod.metadata.deletion_timestamp is not None:
        return True
    statuses = (pod.status.container_statuses if pod.status is not None else None) or []
    return any((s.restart_count or 0) > 0 or (s.state is not None and s.state.terminated is not None)
               for s in statuses)


def _ready(pod) -> bool:
    if pod.metadata.deletion_timestamp is not None:
        return False
    conditions = (pod.status.conditions if pod.status is not None else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


_TEXTS = {
    "dask_cluster_refused": Text("集群拒绝创建 Dask 集群，请联系管理员。",
                                 "The cluster refused to create the Dask cluster; please tell the centre's staff."),
    "dask_operator_missing": Text("集群中没有安装 Dask operator（dask-kubernetes），暂时不能创建 Dask 集群，请联系管理员。",
                                  "The Dask operator (dask-kubernetes) is not installed in the cluster, so no Dask "
                                  "cluster can be made; please tell the centre's staff."),
    "dask_cluster_gone": Text("Dask 集群在启动时被删除了。", "The Dask cluster was deleted while it started."),
    "dask_cluster_timeout": Text("Dask 集群的调度器在 {seconds} 秒内没有启动，已删除。",
                                 "The Dask cluster's scheduler did not start within {seconds} seconds; "
                                 "it was removed."),
}


def _text(key: str) -> Text:
    return _TEXTS[key]
