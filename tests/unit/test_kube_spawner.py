"""The Kubernetes spawner's pure parts: a grant laid over the site's pod settings, the pod it makes, what a student reads.

No cluster and no emulator here: the manifests KubeSpawner builds are checked
against the official Kubernetes schemas (``kubernetes-validate``, strict) at
the oldest and newest versions supported; the lifecycle runs against the
Kubernetes API emulator in tests/kubernetes.
"""

from __future__ import annotations

from types import SimpleNamespace

import kubernetes_validate
import pytest
from kubernetes_asyncio.client import ApiClient

from npuhub.i18n import MESSAGES
from npuhub.spawners.kube import KubeNPUSpawner
from npuhub.spawners.pod_spec import pod_settings
from npuhub.spawners.pod_watch import failure_of_api_error, pod_news, stage_text
from support.kube_emulator import write_kubeconfig

#: The Kubernetes versions npuhub supports: its pods validate against both ends.
K8S_VERSIONS = ("1.25", "1.37")

#: A grant as the service sends it for a quarter of an Ascend 910B with the device plugin's vNPU template,
#: in the shape the accelerator backends produce (``launch["kubernetes"]``).
ASCEND_QUARTER = {
    "env": {"NPUHUB_FLAVOR": "npu-quarter", "ASCEND_VISIBLE_DEVICES": "0"},
    "cpu": 4.0,
    "memory": "16G",
    "image": "registry.example.edu/npuhub/ascend-lab:2026.1",
    "kubernetes": {
        "resources": {"limits": {"huawei.com/Ascend910-8c": "1"}, "requests": {"huawei.com/Ascend910-8c": "1"}},
        "nodeSelector": {"accelerator": "huawei-Ascend910"},
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["node-1"]}]}]}}},
        "tolerations": [{"key": "huawei.com/Ascend910", "operator": "Exists", "effect": "NoSchedule"}],
        "annotations": {"huawei.com/npu-core": "8"},
        "labels": {"npuhub.io/backend": "ascend-vnpu"},
        "env": {"ASCEND_RUNTIME_OPTIONS": "VIRTUAL"},
        "volumes": [{"name": "ascend-driver", "hostPath": {"path": "/usr/local/Ascend/driver"}}],
        "volumeMounts": [{"name": "ascend-driver", "mountPath": "/usr/local/Ascend/driver", "readOnly": True}],
        "schedulerName": "volcano",
    },
}

SITE = {
    "image": "registry.example.edu/npuhub/cpu-lab:2026.1",
    "node_selector": {"pool": "notebooks"},
    "tolerations": [{"key": "notebooks", "operator": "Exists"}],
    "extra_annotations": {"site": "yes"},
    "volumes": [{"name": "home", "persistentVolumeClaim": {"claimName": "{pvc_name}"}}],
    "volume_mounts": [{"name": "home", "mountPath": "/home/jovyan"}],
    "extra_resource_limits": {}, "extra_resource_guarantees": {}, "extra_labels": {},
    "node_affinity_required": [], "node_affinity_preferred": [], "pod_affinity_required": [],
    "pod_affinity_preferred": [], "pod_anti_affinity_required": [], "pod_anti_affinity_preferred": [],
    "scheduler_name": None, "cpu_limit": None, "cpu_guarantee": None, "mem_limit": None, "mem_guarantee": None,
}


def test_a_grant_is_laid_over_the_sites_pod_settings():
    settings = pod_settings(SITE, ASCEND_QUARTER)
    assert settings == {
        "image": "registry.example.edu/npuhub/ascend-lab:2026.1",
        "cpu_limit": 4.0, "cpu_guarantee": 4.0, "mem_limit": "16G", "mem_guarantee": "16G",
        "extra_resource_limits": {"huawei.com/Ascend910-8c": "1"},
        "extra_resource_guarantees": {"huawei.com/Ascend910-8c": "1"},
        "node_selector": {"pool": "notebooks", "accelerator": "huawei-Ascend910"},
        "tolerations": [{"key": "notebooks", "operator": "Exists"},
                        {"key": "huawei.com/Ascend910", "operator": "Exists", "effect": "NoSchedule"}],
        "node_affinity_required": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": ["node-1"]}]}],
        "node_affinity_preferred": [], "pod_affinity_required": [], "pod_affinity_preferred": [],
        "pod_anti_affinity_required": [], "pod_anti_affinity_preferred": [],
        "extra_annotations": {"site": "yes", "huawei.com/npu-core": "8"},
        "extra_labels": {"npuhub.io/backend": "ascend-vnpu"},
        "volumes": [{"name": "home", "persistentVolumeClaim": {"claimName": "{pvc_name}"}},
                    {"name": "ascend-driver", "hostPath": {"path": "/usr/local/Ascend/driver"}}],
        "volume_mounts": [{"name": "home", "mountPath": "/home/jovyan"},
                          {"name": "ascend-driver", "mountPath": "/usr/local/Ascend/driver", "readOnly": True}],
        "scheduler_name": "volcano",
    }
    # the site's own values are never changed by a grant (the next start begins from them again)
    assert SITE["tolerations"] == [{"key": "notebooks", "operator": "Exists"}]


def test_a_cpu_grant_keeps_the_sites_image_and_placement():
    settings = pod_settings(SITE, {"env": {}, "cpu": 1.0, "memory": "2G"})
    assert settings["image"] == SITE["image"] and settings["node_selector"] == {"pool": "notebooks"}
    assert settings["extra_resource_limits"] == {} and settings["scheduler_name"] is None
    assert (settings["cpu_limit"], settings["mem_limit"]) == (1.0, "2G")


class Owner:
    def __init__(self, name="alice"):
        self.name = name
        self.escaped_name = name
        self.id = 7
        self.url = f"/user/{name}/"
        self.groups = [SimpleNamespace(name="course-demo")]


@pytest.fixture(autouse=True)
def kubeconfig(tmp_path, monkeypatch):
    """KubeSpawner loads a kubeconfig when made; this one names an address nothing listens on (no call is made)."""
    from kubernetes_asyncio.config import kube_config
    from kubespawner.clients import load_config

    path = write_kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:9")
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(path))
    load_config.cache_clear()
    yield
    load_config.cache_clear()


def kube_spawner(**config) -> KubeNPUSpawner:
    hub = SimpleNamespace(api_url="http://hub:8081/hub/api", public_host="", base_url="/hub/", url="/hub/")
    spawner = KubeNPUSpawner(user=Owner(), hub=hub, namespace="npuhub", _mock=True, **config)
    spawner.api_token = "secret-token"
    return spawner


async def manifest_of(spawner: KubeNPUSpawner, launch: dict) -> dict:
    spawner.launch = launch
    spawner.apply_launch(launch)
    return await serialized(await spawner.get_pod_manifest())


async def serialized(model) -> dict:
    """A kubernetes_asyncio model as the API would receive it (JSON, camelCase)."""
    async with ApiClient() as api:
        return api.sanitize_for_serialization(model)


@pytest.mark.parametrize("version", K8S_VERSIONS)
async def test_the_pod_of_a_granted_quarter_is_valid_kubernetes(version):
    spawner = kube_spawner()
    pod = await manifest_of(spawner, ASCEND_QUARTER)
    kubernetes_validate.validate(pod, version, strict=True)
    container = pod["spec"]["containers"][0]
    assert container["image"] == ASCEND_QUARTER["image"]
    assert container["resources"] == {
        "limits": {"cpu": 4.0, "memory": 16 * 1024 ** 3, "huawei.com/Ascend910-8c": "1"},
        "requests": {"cpu": 4.0, "memory": 16 * 1024 ** 3, "huawei.com/Ascend910-8c": "1"}}
    assert pod["spec"]["schedulerName"] == "volcano"
    assert pod["spec"]["nodeSelector"] == {"accelerator": "huawei-Ascend910"}
    assert pod["metadata"]["annotations"]["huawei.com/npu-core"] == "8"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["ASCEND_VISIBLE_DEVICES"] == "0" and env["ASCEND_RUNTIME_OPTIONS"] == "VIRTUAL"
    assert env["NPUHUB_FLAVOR"] == "npu-quarter"
    # her own storage: a claim per person, mounted as her home
    assert {"name": "home", "persistentVolumeClaim": {"claimName": "claim-alice"}} in pod["spec"]["volumes"]
    assert {"name": "home", "mountPath": "/home/jovyan"} in container["volumeMounts"]
    assert container["args"] == ["jupyterhub-singleuser"]
    assert not container.get("securityContext", {}).get("privileged")
    # whose server it is, as her Dask clusters' network policies let her servers in (and nobody else's)
    assert pod["metadata"]["labels"]["npuhub.io/user"] == "alice"
    assert pod["metadata"]["labels"]["component"] == "singleuser-server"


@pytest.mark.parametrize("version", K8S_VERSIONS)
async def test_the_next_start_on_a_cpu_flavor_carries_nothing_of_the_last_grant(version):
    spawner = kube_spawner()
    await manifest_of(spawner, ASCEND_QUARTER)
    pod = await manifest_of(spawner, {"env": {"NPUHUB_FLAVOR": "cpu"}, "cpu": 1.0, "memory": "2G"})
    kubernetes_validate.validate(pod, version, strict=True)
    container = pod["spec"]["containers"][0]
    assert container["image"] == "quay.io/jupyter/base-notebook:latest"
    assert container["resources"] == {"limits": {"cpu": 1.0, "memory": 2 * 1024 ** 3},
                                      "requests": {"cpu": 1.0, "memory": 2 * 1024 ** 3}}
    assert "nodeSelector" not in pod["spec"] and "tolerations" not in pod["spec"]
    assert "schedulerName" not in pod["spec"]
    assert [v["name"] for v in pod["spec"]["volumes"]] == ["home"]


async def test_the_per_user_claim_has_sane_defaults():
    spawner = kube_spawner(storage_class="fast-ssd")
    pvc = await serialized(spawner.get_pvc_manifest())
    kubernetes_validate.validate(pvc, K8S_VERSIONS[-1], strict=True)
    assert pvc["metadata"]["name"] == "claim-alice"
    assert pvc["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert pvc["spec"]["storageClassName"] == "fast-ssd"
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]


# -- what the student reads while the pod starts ---------------------------------------------------------

IMAGE = "registry.example.edu/npuhub/ascend-lab:2026.1"


def pod(phase="Pending", node=None, conditions=(), container=None) -> dict:
    status = {"phase": phase, "conditions": list(conditions)}
    if container is not None:
        status["containerStatuses"] = [{"name": "notebook", "image": IMAGE, **container}]
    return {"metadata": {"name": "jupyter-alice"}, "spec": {"nodeName": node} if node else {}, "status": status}


UNSCHEDULABLE = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}


def test_each_stage_of_a_start_reads_as_a_sentence():
    assert pod_news(None, [], image=IMAGE).stage == "created"
    scheduled = pod_news(pod(node="npu-node-3"), [{"reason": "Scheduled"}], image=IMAGE)
    assert scheduled.stage == "scheduled" and "npu-node-3" in scheduled.text.en and "npu-node-3" in scheduled.text.zh
    pulling = pod_news(pod(node="n"), [{"reason": "Scheduled"}, {"reason": "Pulling"}], image=IMAGE)
    assert pulling.stage == "pulling" and IMAGE in pulling.text.en and IMAGE in pulling.text.zh
    starting = pod_news(pod(node="n"), [{"reason": "Pulling"}, {"reason": "Pulled"}], image=IMAGE)
    assert starting.stage == "starting" and starting.text == MESSAGES["pod_starting"]
    assert stage_text(pulling, IMAGE).en == f"downloading the image {IMAGE}"


@pytest.mark.parametrize("scheduler_says, reason, words", [
    ("0/8 nodes are available: 8 node(s) had untolerated taint {npu: maintenance}.", "pod_unschedulable_taint",
     "not taking new servers"),
    ("0/8 nodes are available: 8 Insufficient huawei.com/Ascend910, 2 Insufficient cpu.", "pod_unschedulable_room",
     "not enough CPU, huawei.com/Ascend910"),
    ("0/8 nodes are available: 8 node(s) didn't match Pod's node affinity/selector.", "pod_unschedulable_match",
     "No node in the cluster matches"),
    ("0/8 nodes are available: 8 node(s) had volume node affinity conflict.", "pod_unschedulable_match",
     "No node in the cluster matches"),
    ("something else entirely", "pod_unschedulable", "could not find a node"),
])
def test_a_pod_that_cannot_be_placed_is_one_sentence_after_the_grace(scheduler_says, reason, words):
    stuck = pod(conditions=[{**UNSCHEDULABLE, "message": scheduler_says}])
    assert not pod_news(stuck, [], image=IMAGE, unschedulable_for=5, unschedulable_grace=30).failed
    news = pod_news(stuck, [], image=IMAGE, unschedulable_for=31, unschedulable_grace=30)
    assert news.failed and news.reason == reason and words in news.text.en
    assert "0/8" not in news.text.en and "0/8" not in news.text.zh  # never the raw event
    assert "given back" in news.text.en and "释放" in news.text.zh


@pytest.mark.parametrize("container, reason, words", [
    ({"state": {"waiting": {"reason": "ErrImagePull", "message": "rpc error: 404"}}}, "pod_image_failed",
     f"The image {IMAGE} could not be downloaded"),
    ({"state": {"waiting": {"reason": "ImagePullBackOff"}}}, "pod_image_failed", "could not be downloaded"),
    ({"state": {"terminated": {"exitCode": 3, "reason": "Error"}}}, "pod_exited", "exit code 3"),
    ({"state": {"waiting": {"reason": "CrashLoopBackOff"}},
      "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}, "pod_out_of_memory", "out of memory"),
    ({"state": {"waiting": {"reason": "CreateContainerConfigError"}}}, "pod_config_failed", "misconfigured"),
])
def test_a_container_that_cannot_start_is_one_sentence(container, reason, words):
    news = pod_news(pod(node="n", container=container), [{"reason": "Pulling"}], image=IMAGE)
    assert news.failed and news.reason == reason and words in news.text.en
    assert "rpc error" not in news.text.en


def test_the_apis_refusals_of_a_pod_read_as_sentences():
    quota = failure_of_api_error(403, 'pods "jupyter-alice" is forbidden: exceeded quota: npuhub, requested: '
                                      'limits.cpu=4, used: limits.cpu=32, limited: limits.cpu=32')
    assert quota.reason == "pod_quota" and "quota" in quota.text.en and "limits.cpu" not in quota.text.en
    assert failure_of_api_error(422, "Pod is invalid").reason == "pod_api_failed"


def test_every_pod_sentence_exists_in_both_languages():
    for key, text in MESSAGES.items():
        if key.startswith(("pod_", "stage_")):
            assert text.zh and text.en and text.zh != text.en, key


def test_a_flavors_image_travels_with_its_grant():
    from npuhub.flavors import Flavor
    from npuhub.launch import launch_view

    lab = Flavor("cpu-lab", cpu=1, memory="2G", image="registry.example.edu/npuhub/cpu-lab:2026.1")
    assert launch_view(lab, None, None, "r1")["image"] == "registry.example.edu/npuhub/cpu-lab:2026.1"
    assert "image" not in launch_view(Flavor("cpu", cpu=1, memory="2G"), None, None, "r2")
