"""Pods from a granted request's launch view, built by KubeSpawner's own ``make_pod``, for offline validation.

``pod_manifest(launch)`` maps ``launch.kubernetes`` (the accelerator backend's
pod fragment, ``npuhub.accelerators.base``) onto ``kubespawner.objects.make_pod``'s
arguments, the way the Kubernetes spawner does, and serialises the result to
the JSON a cluster would receive.
"""

from __future__ import annotations

import re

from kubernetes_asyncio.client import ApiClient
from kubespawner.objects import make_pod

__all__ = ["pod_manifest", "kube_memory"]

_MEMORY_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([KMGT])$")


def kube_memory(memory: str) -> str:
    """npuhub's ``16G`` (1G = 1024³ bytes, the site file's rule) as a Kubernetes quantity: ``16Gi``."""
    match = _MEMORY_RE.match(memory)
    assert match, memory
    return f"{match[1]}{match[2]}i"


def pod_manifest(launch: dict, name: str = "jupyter-student1", image: str = "npuhub/singleuser-ascend:1") -> dict:
    fragment = launch.get("kubernetes") or {}
    required = (fragment.get("affinity", {}).get("nodeAffinity", {})
                .get("requiredDuringSchedulingIgnoredDuringExecution", {}).get("nodeSelectorTerms"))
    pod = make_pod(
        name=name,
        cmd=["jupyterhub-singleuser"],
        port=8888,
        image=image,
        uid=1000,
        gid=100,
        fs_gid=100,
        env={**launch["env"], **fragment.get("env", {})},
        labels={"app.kubernetes.io/name": "jupyterhub", "component": "singleuser-server",
                **fragment.get("labels", {})},
        annotations=fragment.get("annotations") or None,
        cpu_limit=launch["cpu"],
        cpu_guarantee=launch["cpu"],
        mem_limit=kube_memory(launch["memory"]),
        mem_guarantee=kube_memory(launch["memory"]),
        extra_resource_limits=fragment.get("resources", {}).get("limits") or None,
        extra_resource_guarantees=fragment.get("resources", {}).get("requests") or None,
        node_selector=fragment.get("nodeSelector") or None,
        tolerations=fragment.get("tolerations") or None,
        node_affinity_required=required,
        volumes=fragment.get("volumes") or None,
        volume_mounts=fragment.get("volumeMounts") or None,
        scheduler_name=fragment.get("schedulerName"),
    )
    # sanitize_for_serialization reads no client state; a client's __init__ wants an event loop
    return ApiClient.__new__(ApiClient).sanitize_for_serialization(pod)
