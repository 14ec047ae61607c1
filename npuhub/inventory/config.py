"""The site file's ``pool: {kubernetes: ...}``: which node labels name a device model, and which resource counts it.

Example::

    pool:
      kubernetes:
        resync_seconds: 300
        models:
          - model: Ascend 910B
            vendor: ascend
            node_selector: {accelerator: huawei-Ascend910}
            resource: huawei.com/Ascend910
            max_devices_per_node: 8

A node belongs to the first model whose ``node_selector`` labels it carries
(every key, with that value); its devices are its allocatable count of
``resource``. ``resource`` may be left out when the model names a
``backend`` that says which resource it counts (``device_resource``, see
``resolve_resource``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["DeviceModel", "KubernetesPool", "parse_kubernetes_pool", "resolve_resource"]

_LABEL_KEY_RE = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE_RE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_RESOURCE_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


@dataclass(frozen=True)
class DeviceModel:
    """One device model of the cluster: the nodes that have it, and the resource that counts it."""

    model: str
    vendor: str
    node_selector: dict[str, str]
    #: the allocatable resource whose count is the node's devices; None: the backend says
    resource: str | None = None
    #: the accelerator backend of this model (``{kind: ..., options...}``, see ``npuhub.accelerators``), if any
    backend: dict | None = None
    #: the largest device count a node of this model may have (flavors are checked against it)
    max_devices_per_node: int = 8

    def matches(self, labels: dict[str, str]) -> bool:
        return all(labels.get(key) == value for key, value in self.node_selector.items())


@dataclass(frozen=True)
class KubernetesPool:
    """The cluster inventory's settings."""

    models: tuple[DeviceModel, ...]
    #: seconds a watch runs before it is started again from a fresh list (a full resync)
    resync_seconds: int = 300
    #: seconds the service waits for the first list of nodes at start-up before it gives up
    start_timeout: int = 60

    @property
    def vendors(self) -> dict[str, str]:
        return {m.model: m.vendor for m in self.models}

    def label_selector(self) -> str | None:
        """A server-side label selector when every model shares one label key (else None: all nodes)."""
        keys = [set(m.node_selector) for m in self.models]
        common = set.intersection(*keys) if keys else set()
        if len(common) != 1:
            return None
        key = common.pop()
        values = sorted({m.node_selector[key] for m in self.models})
        return f"{key} in ({','.join(values)})"


def resolve_resource(model: DeviceModel, backend_resource: Callable[[str], str | None] | None = None) -> str:
    """The resource that counts ``model``'s devices: the site file's, else its backend's answer.

    ``backend_resource(model)`` asks the model's accelerator backend (its
    ``device_resource()``: the resource whole devices are counted by).
    Raises ValueError when neither says.
    """
    if model.resource:
        return model.resource
    if model.backend and backend_resource is not None:
        name = backend_resource(model.model)
        if name:
            return name
    raise ValueError(f"pool.kubernetes: model {model.model!r}: no resource to count its devices by "
                     f"(give 'resource', or a 'backend' that names one)")


def parse_kubernetes_pool(r: Any, data: Any, key: str, vendors: tuple[str, ...]) -> KubernetesPool:
    """Validate ``pool.kubernetes`` with the site file's reader ``r`` (its errors name the key)."""
    data = r.mapping(data, key, {"models", "resync_seconds", "start_timeout"}, {"models"})
    models: list[DeviceModel] = []
    raw = r.sequence(data["models"], f"{key}.models")
    if not raw:
        r.fail(f"{key}.models", "lists no device model")
    for i, entry in enumerate(raw):
        mkey = f"{key}.models[{i}]"
        entry = r.mapping(entry, mkey, {"model", "vendor", "node_selector", "resource", "backend",
                                        "max_devices_per_node"}, {"model", "node_selector"})
        name = r.string(entry["model"], f"{mkey}.model")
        if any(m.model == name for m in models):
            r.fail(f"{mkey}.model", f"{name!r} is listed twice")
        selector = r.mapping(entry["node_selector"], f"{mkey}.node_selector", set(entry["node_selector"] or {}))
        if not selector:
            r.fail(f"{mkey}.node_selector", "must name at least one label")
        for label, value in selector.items():
            if not isinstance(label, str) or not _LABEL_KEY_RE.match(label):
                r.fail(f"{mkey}.node_selector", f"{label!r} is not a label key")
            if not isinstance(value, str) or not _LABEL_VALUE_RE.match(value):
                r.fail(f"{mkey}.node_selector.{label}", f"{value!r} is not a label value (quote it if it is a number)")
        resource = entry.get("resource")
        if resource is not None:
            r.string(resource, f"{mkey}.resource", _RESOURCE_RE, "an extended resource like huawei.com/Ascend910")
        backend = entry.get("backend")
        if isinstance(backend, str):  # the short form: only the kind
            backend = {"kind": r.string(backend, f"{mkey}.backend")}
        elif backend is not None:
            backend = dict(r.mapping(backend, f"{mkey}.backend", set(backend or {}) | {"kind"}, {"kind"}))
        if resource is None and backend is None:
            r.fail(f"{mkey}.resource", "is required (or name a backend that counts the devices)")
        models.append(DeviceModel(
            model=name,
            vendor=r.choice(entry.get("vendor", "ascend"), f"{mkey}.vendor", vendors),
            node_selector={str(k): str(v) for k, v in selector.items()},
            resource=resource,
            backend=backend,
            max_devices_per_node=r.integer(entry.get("max_devices_per_node", 8), f"{mkey}.max_devices_per_node"),
        ))
    return KubernetesPool(
        models=tuple(models),
        resync_seconds=r.integer(data.get("resync_seconds", 300), f"{key}.resync_seconds", minimum=10),
        start_timeout=r.integer(data.get("start_timeout", 60), f"{key}.start_timeout", minimum=1),
    )
