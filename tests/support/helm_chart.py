"""The npuhub chart rendered by Helm's own engine (helm-python-sdk), offline: the helm tier's helpers.

No cluster and no chart repository can be reached here, so the upstream dependencies (z2jh's
`jupyterhub`, the dask-kubernetes operator) are never fetched: renders use the chart as it is (Helm
renders a chart whose `charts/` is missing, only `install` and `lint` complain), and lint uses a copy
with the dependencies taken out of Chart.yaml (`chart_without_dependencies`).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import yaml

from support.parts import require

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "npuhub"
CI_VALUES = CHART / "ci"
RELEASE, NAMESPACE = "npuhub", "jhub"
#: the oldest and newest Kubernetes the chart supports (Chart.yaml kubeVersion ">=1.28.0-0")
KUBE_VERSIONS = ("1.28", "1.37")


def helm():
    try:
        import helm_python
    except ImportError as e:  # pragma: no cover (CI installs the test extra)
        require(False, f"helm-python-sdk ({e})")
    return helm_python


def values_file(name: str) -> dict:
    return yaml.safe_load((CI_VALUES / f"{name}-values.yaml").read_text(encoding="utf-8"))


def render(values: dict, *, install: bool = True) -> list[dict]:
    """Every object the chart renders with ``values`` (over values.yaml), as Helm would apply them."""
    chart = helm().Chart.load(str(CHART))
    try:
        manifests = chart.render(copy.deepcopy(values), name=RELEASE, namespace=NAMESPACE, is_install=install,
                                 is_upgrade=not install)
    finally:
        chart.close()
    objects = []
    for path, text in sorted(manifests.items()):
        if not path.endswith((".yaml", ".yml")):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                objects.append({**doc, "_template": path})
    return objects


def find(objects: list[dict], kind: str, name: str, namespace: str | None = None) -> dict:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name
             and (namespace is None or o["metadata"].get("namespace", NAMESPACE) == namespace)]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered ({[o['kind'] + '/' + o['metadata']['name'] for o in objects]})"
    return found[0]


def dashboard_queries() -> list[str]:
    """The PromQL expressions of the chart's Grafana dashboard."""
    dashboard = json.loads((CHART / "dashboards" / "npuhub.json").read_text(encoding="utf-8"))
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def metric_names(expr: str) -> set[str]:
    """The npuhub metrics a PromQL expression reads."""
    return set(re.findall(r"\bnpuhub_[a-z0-9_]+\b", expr))
