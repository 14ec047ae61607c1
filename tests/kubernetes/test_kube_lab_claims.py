"""Lab volumes made through the Kubernetes API (the emulator): a claim per lab at a member's start, once.

The emulator checks the API calls, not storage: that a ReadWriteMany class
binds and shares files across nodes needs a real cluster (see the operator
guide's "Lab folders").
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from kubernetes_asyncio.config import kube_config
from kubespawner.clients import load_config

from npuhub.labs import volume_name
from npuhub.spawners.kube import KubeNPUSpawner

pytestmark = pytest.mark.integration


class Member:
    def __init__(self, name, *groups):
        self.name = self.escaped_name = name
        self.id = 1
        self.url = f"/user/{name}/"
        self.groups = [SimpleNamespace(name=g) for g in groups]


@pytest.fixture
def cluster_api(emulated_cluster, monkeypatch):
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(emulated_cluster.kubeconfig))
    load_config.cache_clear()
    yield emulated_cluster
    load_config.cache_clear()


def spawner(user, namespace="npuhub") -> KubeNPUSpawner:  # the emulated cluster's namespace
    hub = SimpleNamespace(api_url="http://hub:8081/hub/api", public_host="", base_url="/hub/", url="/hub/")
    return KubeNPUSpawner(user=user, hub=hub, namespace=namespace, lab_storage_class="cephfs",
                          lab_storage_capacity="50Gi", _mock=True)


async def test_each_lab_gets_one_claim_made_at_a_members_first_start(cluster_api):
    await spawner(Member("ada", "lab-demo", "course-ai"))._ensure_lab_claims()
    await spawner(Member("bob", "lab-demo", "lab-vision"))._ensure_lab_claims()  # lab-demo's exists: kept
    claims = {c["metadata"]["name"]: c for c in cluster_api.claims()}
    assert set(claims) == {volume_name("lab-demo"), volume_name("lab-vision")}
    demo = claims[volume_name("lab-demo")]
    assert demo["spec"]["accessModes"] == ["ReadWriteMany"] and demo["spec"]["storageClassName"] == "cephfs"
    assert demo["spec"]["resources"]["requests"]["storage"] == "50Gi"
    assert demo["metadata"]["annotations"]["npuhub.io/lab-group"] == "lab-demo"

