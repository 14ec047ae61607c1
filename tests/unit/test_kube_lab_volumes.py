"""A volume per lab group in a cluster: the claim, and the pods of its members (only) mounting it.

Checked against the official Kubernetes schemas (``kubernetes-validate``,
strict); the claims are made against the Kubernetes API emulator in
tests/kubernetes/test_kube_lab_claims.py. What a real cluster adds (a
ReadWriteMany class that binds, files shared across nodes) is not tested here.
"""

from __future__ import annotations

from types import SimpleNamespace

import kubernetes_validate
import pytest
from kubernetes_asyncio.client import ApiClient

from npuhub.groups import GroupMapping
from npuhub.labs import volume_name
from npuhub.spawners.kube import KubeNPUSpawner
from npuhub.spawners.pod_spec import lab_claim
from support.kube_emulator import write_kubeconfig

VERSIONS = ("1.25", "1.37")
CPU = {"env": {"NPUHUB_FLAVOR": "cpu"}, "cpu": 1.0, "memory": "2G"}


class Member:
    def __init__(self, name, *groups):
        self.name = self.escaped_name = name
        self.id = 7
        self.url = f"/user/{name}/"
        self.groups = [SimpleNamespace(name=g) for g in groups]


@pytest.fixture(autouse=True)
def kubeconfig(tmp_path, monkeypatch):
    from kubernetes_asyncio.config import kube_config
    from kubespawner.clients import load_config

    path = write_kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:9")  # nothing listens: no call is made
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(path))
    load_config.cache_clear()
    yield
    load_config.cache_clear()


def spawner(user, **config) -> KubeNPUSpawner:
    hub = SimpleNamespace(api_url="http://hub:8081/hub/api", public_host="", base_url="/hub/", url="/hub/")
    s = KubeNPUSpawner(user=user, hub=hub, namespace="npuhub", _mock=True, **config)
    s.api_token = "secret-token"
    return s


async def pod_of(s: KubeNPUSpawner, launch=CPU) -> dict:
    s.launch = launch
    s.apply_launch(launch)
    async with ApiClient() as api:
        return api.sanitize_for_serialization(await s.get_pod_manifest())


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_member_mounts_her_labs_and_nobody_elses(version):
    ada = spawner(Member("ada", "lab-demo", "lab-vision", "course-ai"), lab_storage_class="cephfs")
    pod = await pod_of(ada)
    kubernetes_validate.validate(pod, version, strict=True)
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["spec"]["volumes"]
              if "persistentVolumeClaim" in v}
    assert claims == {"home": "claim-ada", volume_name("lab-demo"): volume_name("lab-demo"),
                      volume_name("lab-vision"): volume_name("lab-vision")}
    mounts = {m["name"]: m["mountPath"] for m in pod["spec"]["containers"][0]["volumeMounts"]}
    assert mounts[volume_name("lab-demo")] == "/home/jovyan/labs/lab-demo"
    assert mounts[volume_name("lab-vision")] == "/home/jovyan/labs/lab-vision"

    # another lab's member: her own lab only; a student in no lab: none
    bob = await pod_of(spawner(Member("bob", "lab-vision"), lab_storage_class="cephfs"))
    assert [v["name"] for v in bob["spec"]["volumes"]] == ["home", volume_name("lab-vision")]
    carol = await pod_of(spawner(Member("carol", "course-ai"), lab_storage_class="cephfs"))
    assert [v["name"] for v in carol["spec"]["volumes"]] == ["home"]


async def test_no_storage_class_no_lab_volumes_and_the_sites_mapping_says_what_a_lab_is():
    pod = await pod_of(spawner(Member("ada", "lab-demo")))
    assert [v["name"] for v in pod["spec"]["volumes"]] == ["home"]
    s = spawner(Member("ada", "lab-demo", "grp-robots"), lab_storage_class="nfs",
                group_mapping=GroupMapping(lab_prefix="grp-"),
                volume_mounts=[{"name": "home", "mountPath": "/home/ada"}])
    assert s.labs() == ["grp-robots"]
    pod = await pod_of(s)
    assert {m["mountPath"] for m in pod["spec"]["containers"][0]["volumeMounts"]} == {
        "/home/ada", "/home/ada/labs/grp-robots"}


async def test_a_start_after_leaving_a_lab_no_longer_mounts_it():
    user = Member("ada", "lab-demo")
    s = spawner(user, lab_storage_class="cephfs")
    assert volume_name("lab-demo") in [v["name"] for v in (await pod_of(s))["spec"]["volumes"]]
    user.groups = []
    assert [v["name"] for v in (await pod_of(s))["spec"]["volumes"]] == ["home"]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_labs_claim_is_valid_and_read_write_many(version):
    claim = lab_claim("lab-视觉", "cephfs", "100Gi")
    kubernetes_validate.validate(claim, version, strict=True)
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["metadata"]["annotations"]["npuhub.io/lab-group"] == "lab-视觉"
