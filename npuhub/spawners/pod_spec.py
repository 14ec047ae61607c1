"""What a granted server's pod is made of: the grant's ``launch`` laid over the site's KubeSpawner settings.

Pure data, no I/O. The service sends with every grant ``launch``
(``npuhub.launch``: ``env``, ``cpu``, ``memory``, ``image`` when the flavor
names one) and, in a cluster, ``launch["kubernetes"]``: what the accelerator
backend made of the share, in plain Kubernetes-API JSON (camelCase)::

    {"resources": {"limits": {...}, "requests": {...}},   # accelerator resources only
     "nodeSelector": {...}, "affinity": {...}, "tolerations": [...],
     "annotations": {...}, "labels": {...}, "env": {"NAME": "value"},
     "volumes": [...], "volumeMounts": [...], "schedulerName": "volcano"}

``pod_settings`` turns it into KubeSpawner trait values, each one the site's
configured value with the grant's added on top (the grant wins where both
name the same key), so a start never carries over the previous start's slice.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["POD_TRAITS", "pod_settings", "grant_env", "lab_volumes", "lab_claim", "with_volumes"]

#: The KubeSpawner traits a grant may change; the rest of the pod is the site's configuration.
POD_TRAITS = (
    "image", "cpu_limit", "cpu_guarantee", "mem_limit", "mem_guarantee",
    "extra_resource_limits", "extra_resource_guarantees", "node_selector", "tolerations",
    "node_affinity_required", "node_affinity_preferred", "pod_affinity_required", "pod_affinity_preferred",
    "pod_anti_affinity_required", "pod_anti_affinity_preferred",
    "extra_annotations", "extra_labels", "volumes", "volume_mounts", "scheduler_name",
)


def _as_list(value) -> list:
    """KubeSpawner's list-or-dict traits (a dict's values in key order) as a list."""
    if isinstance(value, dict):
        return [value[k] for k in sorted(value)]
    return list(value or [])


def _by_name(base: list, added: list) -> list:
    """``base`` then ``added``; an added item with the name of a base item replaces it (volumes, mounts)."""
    names = {item.get("name") for item in added if isinstance(item, dict)}
    return [item for item in base if not (isinstance(item, dict) and item.get("name") in names)] + added


def pod_settings(configured: dict[str, Any], launch: dict) -> dict[str, Any]:
    """The values of ``POD_TRAITS`` for a server started on ``launch``.

    ``configured`` holds the site's values of those traits (as the spawner was
    configured, before any start). CPU and memory come from ``launch`` (limit
    and guarantee alike: an admitted slice is never squeezed out by its
    neighbours); accelerator resources and placement from ``launch["kubernetes"]``.
    """
    base = {name: copy.deepcopy(configured.get(name)) for name in POD_TRAITS}
    out = dict(base)
    if launch.get("image"):
        out["image"] = launch["image"]
    if launch.get("cpu") is not None:
        out["cpu_limit"] = out["cpu_guarantee"] = float(launch["cpu"])
    if launch.get("memory"):
        out["mem_limit"] = out["mem_guarantee"] = launch["memory"]

    kube = launch.get("kubernetes") or {}
    resources = kube.get("resources") or {}
    out["extra_resource_limits"] = {**(base["extra_resource_limits"] or {}), **(resources.get("limits") or {})}
    out["extra_resource_guarantees"] = {**(base["extra_resource_guarantees"] or {}),
                                        **(resources.get("requests") or {})}
    out["node_selector"] = {**(base["node_selector"] or {}), **(kube.get("nodeSelector") or {})}
    out["tolerations"] = _as_list(base["tolerations"]) + list(kube.get("tolerations") or [])
    out["extra_annotations"] = {**(base["extra_annotations"] or {}), **(kube.get("annotations") or {})}
    out["extra_labels"] = {**(base["extra_labels"] or {}), **(kube.get("labels") or {})}
    out["volumes"] = _by_name(_as_list(base["volumes"]), list(kube.get("volumes") or []))
    out["volume_mounts"] = _by_name(_as_list(base["volume_mounts"]), list(kube.get("volumeMounts") or []))
    if kube.get("schedulerName"):
        out["scheduler_name"] = kube["schedulerName"]

    affinity = kube.get("affinity") or {}
    node = affinity.get("nodeAffinity") or {}
    required = (node.get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms") or []
    out["node_affinity_required"] = _as_list(base["node_affinity_required"]) + list(required)
    out["node_affinity_preferred"] = _as_list(base["node_affinity_preferred"]) + list(
        node.get("preferredDuringSchedulingIgnoredDuringExecution") or [])
    for key, trait in (("podAffinity", "pod_affinity"), ("podAntiAffinity", "pod_anti_affinity")):
        part = affinity.get(key) or {}
        out[f"{trait}_required"] = _as_list(base[f"{trait}_required"]) + list(
            part.get("requiredDuringSchedulingIgnoredDuringExecution") or [])
        out[f"{trait}_preferred"] = _as_list(base[f"{trait}_preferred"]) + list(
            part.get("preferredDuringSchedulingIgnoredDuringExecution") or [])
    return out


def grant_env(launch: dict) -> dict[str, str]:
    """The server's environment from the grant: ``launch.env``, then the backend's (``kubernetes.env``)."""
    env = {str(k): str(v) for k, v in (launch.get("env") or {}).items()}
    env.update({str(k): str(v) for k, v in ((launch.get("kubernetes") or {}).get("env") or {}).items()})
    return env


def lab_volumes(labs: list[str], mount_dir: str) -> tuple[list[dict], list[dict]]:
    """The pod volumes and mounts of a person's labs: each lab's claim at ``<mount_dir>/<lab>``."""
    from ..labs import volume_name
    from .local import safe_dirname

    volumes = [{"name": volume_name(lab), "persistentVolumeClaim": {"claimName": volume_name(lab)}} for lab in labs]
    mounts = [{"name": volume_name(lab), "mountPath": f"{mount_dir.rstrip('/')}/{safe_dirname(lab)}"}
              for lab in labs]
    return volumes, mounts


def with_volumes(current: list | dict, added: list[dict]) -> list:
    """KubeSpawner's volumes (or mounts) with ``added`` (by name: an added one replaces one of the same name)."""
    return _by_name(_as_list(current), added)


def lab_claim(lab: str, storage_class: str, capacity: str) -> dict:
    """The PersistentVolumeClaim of a lab's folder: ReadWriteMany (every member's pod, on any node, mounts it)."""
    from ..labs import volume_name

    return {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": volume_name(lab),
                     "labels": {"app.kubernetes.io/managed-by": "npuhub", "component": "npuhub-lab"},
                     "annotations": {"npuhub.io/lab-group": lab}},
        "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": storage_class,
                 "resources": {"requests": {"storage": capacity}}},
    }
