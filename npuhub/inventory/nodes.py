"""From a Kubernetes Node object (a plain dict, as the API serves it) to the pool's NodeSpec. Pure, no I/O."""

from __future__ import annotations

from typing import Mapping

from ..pool import NodeSpec
from .config import DeviceModel

__all__ = ["node_spec", "quantity_count"]


def quantity_count(value: object) -> int:
    """Whole devices in an allocatable quantity ("8", 8, "0"); anything else counts as none."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return 0  # extended resources are whole numbers; a malformed one offers nothing


def node_spec(node: Mapping, models: tuple[DeviceModel, ...], resources: Mapping[str, str]) -> NodeSpec | None:
    """The pool's view of one node, or None when it has none of the site's device models.

    ``resources``: device model -> the allocatable resource that counts its
    devices. A node is cordoned (``spec.unschedulable``) or not ready (its
    ``Ready`` condition not True) → not schedulable: it keeps its grants and
    takes no new one.
    """
    meta = node.get("metadata") or {}
    name = meta.get("name")
    if not name:
        return None
    labels = meta.get("labels") or {}
    model = next((m for m in models if m.matches(labels)), None)
    if model is None:
        return None
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    devices = quantity_count(allocatable.get(resources[model.model]))
    spec = node.get("spec") or {}
    conditions = (node.get("status") or {}).get("conditions") or []
    ready = next((c.get("status") for c in conditions if c.get("type") == "Ready"), "True")
    schedulable = not spec.get("unschedulable", False) and ready == "True"
    return NodeSpec(str(name), model.model, devices, model.vendor, schedulable)
