"""One builder of site files: a small default site, and each test says only what differs.

The default is the one-device site of the demo groups, small enough to fill in a
test: one node with one Ascend 910B; ``cpu``, ``npu-quarter`` (the default),
``npu-half`` and ``npu-1``; students of course-demo limited to a quarter.
"""

from __future__ import annotations

from pathlib import Path

import yaml

MODEL = "Ascend 910B"

#: The demo accounts' groups (npuhub.auth.demo), as the embedded stack's hub gives them.
DEMO_GROUPS = {
    "course-demo": {"kind": "course"},
    "lab-demo": {"kind": "lab"},
    "teachers": {"kind": "role"},
    "admins": {"kind": "role"},
}


def flavor(id: str, share=None, *, model: str = MODEL, cpu=1, memory: str = "1G", **more) -> dict:
    """A flavor entry: CPU only without ``share``, else that share of a ``model`` device."""
    entry = {"id": id, "cpu": cpu, "memory": memory}
    if share is not None:
        entry["accelerator"] = {"model": model, "share": share if isinstance(share, int) else str(share)}
    return entry | more


def pool_of(nodes: int = 1, devices_per_node: int = 1, *, model: str = MODEL,
            node_prefix: str = "node", **more) -> dict:
    """A pool entry: ``nodes`` nodes of ``devices_per_node`` devices each (``vendor``, ``backend``: as given)."""
    return {"model": model, "nodes": nodes, "devices_per_node": devices_per_node, "node_prefix": node_prefix,
            **more}


#: The demo flavors: what a student, a teacher and a lab member may each pick.
DEMO_FLAVORS = [
    flavor("cpu"),
    flavor("npu-quarter", "1/4", memory="2G", default=True),
    flavor("npu-half", "1/2", memory="2G", groups=["teachers", "lab-demo", "admins"]),
    flavor("npu-1", 1, memory="2G", groups=["lab-demo", "admins"]),
]
DEMO_LIMITS = {"max_share": 1, "groups": {"course-demo": {"max_share": "1/4"}, "teachers": {"max_share": 1}}}


def make_site(*, nodes: int = 1, devices_per_node: int = 1, pool: list[dict] | None = None,
         groups: dict | None = None, flavors: list[dict] | None = None, limits: dict | None = None,
         **more) -> dict:
    """A site file's content: the default site with the parts given replaced.

    ``pool`` (a list of ``pool_of(...)`` entries) replaces the single pool of
    ``nodes`` x ``devices_per_node``; any other key (``quotas``, ``auth``, ...)
    is added as given.
    """
    return {
        "pool": pool if pool is not None else [pool_of(nodes, devices_per_node)],
        "groups": DEMO_GROUPS if groups is None else groups,
        "flavors": DEMO_FLAVORS if flavors is None else flavors,
        "limits": DEMO_LIMITS if limits is None else limits,
        **more,
    }


def write_site(path: Path, content: dict | None = None, **parts) -> Path:
    """Write ``content`` (default: ``make_site(**parts)``) as the YAML site file ``path``; return the path."""
    path.write_text(yaml.safe_dump(make_site(**parts) if content is None else content, sort_keys=False))
    return path


#: The node label and resource of the Kubernetes pool the inventory tests use (``kube_pool``).
KUBE_LABEL = "npuhub.test/accelerator"
KUBE_RESOURCE = "huawei.com/Ascend910"


def kube_pool(*, model: str = MODEL, label_value: str = "ascend-910b", resource: str = KUBE_RESOURCE,
              max_devices_per_node: int = 8, **more) -> dict:
    """A ``pool: {kubernetes: ...}`` section: one device model, nodes labelled ``KUBE_LABEL=label_value``."""
    return {"kubernetes": {"models": [{"model": model, "vendor": "ascend",
                                       "node_selector": {KUBE_LABEL: label_value}, "resource": resource,
                                       "max_devices_per_node": max_devices_per_node}], **more}}
