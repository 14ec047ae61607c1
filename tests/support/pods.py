"""Pods from a granted request's launch view, built by KubeSpawner's own ``make_pod``, for offline validation.

``pod_manifest(launch)`` maps ``launch.kubernetes`` (the accelerator backend's
pod fragment, ``npuhub.accelerators.base``) onto ``kubespawner.objects.make_pod``'s
arguments with the Kubernetes spawner's own mapping (``npuhub.spawners.pod_spec``),
and serialises the result to the JSON a cluster would receive.
"""

from __future__ import annotations

from jupyterhub.traitlets import ByteSpecification
from kubernetes_asyncio.client import ApiClient
from kubespawner.objects import make_pod

from npuhub.spawners.pod_spec import grant_env, pod_settings

__all__ = ["pod_manifest", "kube_memory"]

def kube_memory(memory: str) -> int:
    """npuhub's ``16G`` in bytes, as the spawner's ``mem_limit`` trait (JupyterHub's ByteSpecification) makes it."""
    return ByteSpecification().validate(None, memory)


def pod_manifest(launch: dict, name: str = "jupyter-student1", image: str = "npuhub/singleuser-ascend:1") -> dict:
    # the Kubernetes spawner's own mapping (npuhub.spawners.pod_spec), over a site that sets only the image
    settings = pod_settings({"image": image}, launch)
    pod = make_pod(
        name=name,
        cmd=["jupyterhub-singleuser"],
        port=8888,
        image=settings["image"],
        uid=1000,
        gid=100,
        fs_gid=100,
        env=grant_env(launch),
        labels={"app.kubernetes.io/name": "jupyterhub", "component": "singleuser-server",
                **settings["extra_labels"]},
        annotations=settings["extra_annotations"] or None,
        cpu_limit=settings["cpu_limit"],
        cpu_guarantee=settings["cpu_guarantee"],
        mem_limit=kube_memory(settings["mem_limit"]),
        mem_guarantee=kube_memory(settings["mem_guarantee"]),
        extra_resource_limits=settings["extra_resource_limits"] or None,
        extra_resource_guarantees=settings["extra_resource_guarantees"] or None,
        node_selector=settings["node_selector"] or None,
        tolerations=settings["tolerations"] or None,
        node_affinity_required=settings["node_affinity_required"] or None,
        node_affinity_preferred=settings["node_affinity_preferred"] or None,
        pod_affinity_required=settings["pod_affinity_required"] or None,
        pod_affinity_preferred=settings["pod_affinity_preferred"] or None,
        pod_anti_affinity_required=settings["pod_anti_affinity_required"] or None,
        pod_anti_affinity_preferred=settings["pod_anti_affinity_preferred"] or None,
        volumes=settings["volumes"] or None,
        volume_mounts=settings["volume_mounts"] or None,
        scheduler_name=settings["scheduler_name"],
    )
    # sanitize_for_serialization reads no client state; a client's __init__ wants an event loop
    return ApiClient.__new__(ApiClient).sanitize_for_serialization(pod)
