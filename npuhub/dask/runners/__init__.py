"""Where a person's Dask cluster runs: worker processes on this machine, or a DaskCluster in a cluster.

``runner_for(site)`` picks the runner from the site file's ``spawner.type``,
so a cluster runs where the person's notebook servers run: ``local`` ->
the embedded runner (real ``distributed`` processes on this machine),
``kubernetes`` -> ``KubernetesRunner`` (the dask-kubernetes operator's
objects in the namespace of the person's server pods, created with the
service's own service account).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import ClusterRunner, ClusterSpec, Endpoints, WorkerGrant

if TYPE_CHECKING:
    from ...site_config import SiteConfig

__all__ = ["ClusterRunner", "ClusterSpec", "Endpoints", "WorkerGrant", "runner_for"]


def runner_for(site: "SiteConfig", *, kubeconfig: str = "", **embedded_options: Any) -> ClusterRunner:
    """The runner for ``site``: Kubernetes when its servers are pods, else embedded processes.

    ``kubeconfig``: a kubeconfig file (the service's ``kubeconfig`` setting); empty in a pod, where the
    service's own service account is used. ``embedded_options`` go to the embedded runner.
    """
    if site.spawner.type == "kubernetes":
        from ...inventory.watcher import load_kube_client
        from .kubernetes import KubernetesRunner

        return KubernetesRunner(lambda: load_kube_client(kubeconfig),
                                namespace=site.spawner.kubernetes.get("namespace"),
                                image=site.spawner.kubernetes.get("image"))
    from .embedded import EmbeddedRunner  # owner: the embedded runner (real distributed processes)

    return EmbeddedRunner(**embedded_options)
