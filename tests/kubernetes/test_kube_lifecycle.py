"""KubeSpawner's lifecycle with npuhub's admission, against the Kubernetes API emulator, with the real service and hub.

No Kubernetes can run here: the API is emulated (tests/support/kube_emulator.py),
its emulated kubelet runs each pod's container as a real JupyterLab process.
Everything else is real: `npuhub up` (hub, proxy, the npuhub service),
KubeNPUSpawner, its watches. What a student sees is read from the spawn
page's progress stream; what she holds, from the service.
"""

from __future__ import annotations

import pytest

from support.kube_emulator import LAB, SLOW_PULL, EmulatedCluster, EmulatedNode, exits_with
from support.progress import Progress
from support.stacks import pid_alive

from support.kube_stack import (CRASHING_IMAGE, LAB_IMAGE, MISSING_IMAGE, NODE, POD_START_TIMEOUT, SLOW_IMAGE,
                                KubeStack, lab_reachable, wait_until)

pytestmark = pytest.mark.integration

IMAGES = {LAB_IMAGE: LAB, CRASHING_IMAGE: exits_with(3), SLOW_IMAGE: SLOW_PULL}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = EmulatedCluster(tmp_path_factory.mktemp("emulated-cluster"), nodes=[EmulatedNode(NODE)],
                              images=IMAGES, dask_operator=True).start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def stack(cluster, tmp_path_factory):
    stack = KubeStack(tmp_path_factory.mktemp("kube-stack"), cluster).start()
    yield stack
    stack.stop()


def failed_start(stack: KubeStack, user: str, profile: str) -> list[str]:
    """Start ``profile`` for ``user`` and return what she reads, ending with why it failed.

    A start that fails within the hub's first seconds answers the request with
    the sentence; a later failure ends the spawn page's progress with it.
    """
    r = stack.spawn(user, profile)
    if r.status_code not in (201, 202):  # 201 too: the hub answers so once a start is "slow" (10 s)
        assert r.status_code >= 400, r.text
        return [r.json()["message"]]
    progress = Progress(stack, user)
    last = progress.last(timeout=POD_START_TIMEOUT + 60)
    assert last.get("failed"), progress.events
    return [e.get("message", "") for e in progress.events]


def pod_env(pod: dict) -> dict:
    return {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}


def test_emulator_a_queued_start_gets_its_pod_once_granted_and_stop_deletes_it_then_frees_the_slice(stack, cluster):
    log = lambda: stack.log() + "\n--- pods ---\n" + cluster.as_json()  # noqa: E731
    # labmember1 holds the only device, in a pod running a real JupyterLab, made from the backend's grant
    assert stack.spawn("labmember1", "npu-1").status_code in (201, 202)
    stack.admin.wait_for_server("labmember1", timeout=90)
    pod = cluster.pod("jupyter-labmember1")
    env = pod_env(pod)
    assert env["NPUHUB_SHARE"] == "1" and env["NPUHUB_FLAVOR"] == "npu-1"
    assert "ASCEND_VISIBLE_DEVICES" not in env  # the device plugin sets it in a cluster
    container = pod["spec"]["containers"][0]
    assert container["resources"]["limits"] == {"cpu": 1.0, "memory": 2 * 1024 ** 3, "huawei.com/Ascend910": "1"}
    assert container["resources"]["requests"] == container["resources"]["limits"]
    assert pod["spec"]["nodeSelector"] == {"kubernetes.io/hostname": NODE} and pod["spec"]["nodeName"] == NODE
    assert {"name": "ascend-driver", "mountPath": "/usr/local/Ascend/driver", "readOnly": True} in \
        container["volumeMounts"]
    assert container["image"] == LAB_IMAGE and not container.get("securityContext", {}).get("privileged")
    claim = next(c for c in cluster.claims() if c["metadata"]["name"] == "claim-labmember1")
    assert claim["spec"]["storageClassName"] == "emulated" and claim["spec"]["resources"]["requests"] == {
        "storage": "1Gi"}
    lab = lab_reachable(stack, "labmember1")
    assert lab.status_code == 200 and "JupyterLab" in lab.text  # through the hub's proxy, to the pod's address
    assert stack.held() == "1"

    # student1 waits in the queue, with her place; no pod is made for her yet
    assert stack.spawn("student1", "npu-quarter").status_code == 202
    progress = Progress(stack, "student1")
    waiting = progress.wait_for(lambda e: "1st in line" in e.get("message", ""), 30)
    assert "排在第 1 位" in waiting["message"]
    assert cluster.pod("jupyter-student1") is None

    # labmember1 stops: her pod is deleted (its container stopped first), then the slice goes to student1
    holder = next(r for r in cluster.kubelet.runs.values() if r.log and r.log.name.startswith("jupyter-labmember1-"))
    assert stack.admin("DELETE", "/users/labmember1/server").status_code in (202, 204)
    stack.admin.wait_for_server("labmember1", ready=False, timeout=60)
    assert cluster.pod("jupyter-labmember1") is None and holder.process.returncode is not None
    stack.admin.wait_for_server("student1", timeout=90)
    messages = [e.get("message", "") for e in progress.events]
    for stage in ("Granted ¼ Ascend 910B", f"Your server has a place on node {NODE}",
                  f"Downloading the image {LAB_IMAGE}", "The image is ready; starting the container"):
        assert any(stage in m for m in messages), (stage, messages)
    assert any("正在下载镜像" in m for m in messages)
    assert not any("Pulling image" in m or "Successfully assigned" in m for m in messages)  # never raw events
    quarter = cluster.pod("jupyter-student1")
    assert pod_env(quarter)["NPUHUB_SHARE"] == "1/4"
    assert quarter["spec"]["containers"][0]["resources"]["limits"]["huawei.com/Ascend910-8c"] == "1"
    assert stack.held() == "1/4" and len(stack.requests_of("student1")) == 1

    # poll: she shuts her server down from JupyterLab; its container ends, the hub notices, the slice is released
    r = stack.admin.http.post(stack.base_url + "/user/student1/api/shutdown", timeout=30)
    assert r.status_code in (200, 202, 204), r.text
    stack.admin.wait_for_server("student1", ready=False, timeout=60)
    wait_until(lambda: stack.held() == "0", 30, "the slice of the dead server was not released", log)
    assert stack.requests_of("student1") == []
    wait_until(lambda: cluster.pod("jupyter-student1") is None, 30, "the dead server's pod was not deleted", log)


@pytest.mark.parametrize("profile, sentence", [
    ("npu-missing-image", f"The image {MISSING_IMAGE} could not be downloaded"),
    ("npu-crashing", "Your server exited as it started (exit code 3)"),
    ("npu-huge-image", f"Your server did not start within {POD_START_TIMEOUT} seconds "
                       f"(last seen: downloading the image {SLOW_IMAGE})"),
])
def test_emulator_a_pod_that_cannot_start_is_one_sentence_and_its_slice_is_released(stack, cluster, profile,
                                                                                   sentence):
    said = failed_start(stack, "student2", profile)
    assert sentence in said[-1], said
    assert "Your slice was given back" in said[-1] and "您的资源已释放" in said[-1]
    raw = ("ErrImagePull", "ImagePullBackOff", "CrashLoopBackOff", "Back-off", "rpc error", "0/1 nodes")
    assert not any(word in line for line in said for word in raw), said
    assert stack.requests_of("student2") == [] and stack.held() == "0"
    wait_until(lambda: cluster.pod("jupyter-student2") is None, 30, "the failed pod was not deleted")
    server = stack.admin.user("student2")["servers"].get("")
    assert not server or not (server["ready"] or server["pending"])


def test_emulator_a_pod_on_tainted_nodes_or_over_the_namespace_quota_is_one_sentence(stack, cluster):
    cluster.nodes[0].taints = [{"key": "npu", "value": "maintenance", "effect": "NoSchedule"}]
    try:
        said = failed_start(stack, "student3", "npu-quarter")
        assert "are not taking new servers right now" in said[-1], said
        assert not any("untolerated" in line for line in said) and stack.requests_of("student3") == []
    finally:
        cluster.nodes[0].taints = []
    wait_until(lambda: cluster.pod("jupyter-student3") is None, 30, "the unplaceable pod was not deleted")

    cluster.create("resourcequotas", {"metadata": {"name": "npuhub-pods"}, "spec": {"hard": {"pods": "0"}}})
    try:
        said = failed_start(stack, "student3", "npu-quarter")
        assert "resource quota for npuhub is used up" in said[-1], said
        assert not any("exceeded quota" in line for line in said) and stack.requests_of("student3") == []
        assert stack.held() == "0"
    finally:
        cluster.delete("resourcequotas", "npuhub-pods")


def test_emulator_a_hub_restarted_with_pods_running_finds_them_and_counts_nothing_twice(tmp_path):
    cluster = EmulatedCluster(tmp_path / "cluster", nodes=[EmulatedNode(NODE)], images=IMAGES).start()
    (tmp_path / "stack").mkdir()
    stack = KubeStack(tmp_path / "stack", cluster).start()
    try:
        assert stack.spawn("student1", "npu-quarter").status_code in (201, 202)
        stack.admin.wait_for_server("student1", timeout=90)
        uid = cluster.pod("jupyter-student1")["metadata"]["uid"]
        run = next(r for r in cluster.kubelet.runs.values() if r.uid == uid)
        request_id = stack.requests_of("student1")[0]["id"]

        stack.crash()  # kill -9 of the hub (its service goes with it); the pod keeps running
        stack.start()
        model = stack.admin.wait_for_server("student1", timeout=60)
        assert model["servers"][""]["state"]["npuhub"] == {"request": request_id}
        assert cluster.pod("jupyter-student1")["metadata"]["uid"] == uid and pid_alive(run.process.pid)
        assert [r["id"] for r in stack.requests_of("student1")] == [request_id] and stack.held() == "1/4"
        lab = lab_reachable(stack, "student1")
        assert lab.status_code == 200 and "JupyterLab" in lab.text

        assert stack.admin("DELETE", "/users/student1/server").status_code in (202, 204)
        stack.admin.wait_for_server("student1", ready=False, timeout=60)
        assert cluster.pod("jupyter-student1") is None and stack.held() == "0"
    finally:
        stack.stop()
        cluster.stop()


@pytest.mark.xfail(strict=True, reason="the service builds the scheduler's launch with the cluster's flavor share and "
                   "the CPU-only backend (ShareInexpressible at every sync; reported to helper dask in contracts.md): "
                   "remove this mark once the cluster below runs")
def test_emulator_a_dask_cluster_of_the_service_is_the_operators_objects_under_her_quota(stack, cluster):
    """The real service's Dask clusters in a cluster: ``spawner.type: kubernetes`` makes it use the Kubernetes
    runner with its own credentials ($KUBECONFIG here), and a cluster becomes a DaskCluster and worker pods
    with the device plugin's resources on the node the pool counted, the person's labels, and its own
    network policy; closing it deletes them and releases the slices. (The emulated dask-kubernetes operator
    makes the pods; tests/support/kube_emulator_dask.py.)"""
    import requests

    assert stack.spawn("teacher1", "cpu").status_code in (201, 202)
    stack.admin.wait_for_server("teacher1")
    token = stack.session("teacher1").api("POST", "/users/teacher1/tokens", json={"note": "dask"}).json()["token"]
    api = stack.base_url + "/services/npuhub/api/v1/clusters"
    headers = {"Authorization": f"token {token}"}
    try:
        r = requests.post(api, json={"workers": 2, "server": ""}, headers=headers, timeout=30)
        assert r.status_code == 201, r.text  # two quarters of the one device: both admitted at once
        cid = r.json()["id"]

        def running():
            view = requests.get(f"{api}/{cid}", headers=headers, timeout=30).json()
            assert "ShareInexpressible" not in stack.log(), "the service could not build the cluster's pods"
            return view if view["state"] == "running" and view["workers"]["running"] == 2 else None
        view = wait_until(running, 60, "the cluster's 2 workers running", stack.log)
        assert view["scheduler_address"].startswith("tls://dask-")
        assert stack.held() == "1/2"

        clusters = cluster.api("GET", "/apis/kubernetes.dask.org/v1/namespaces/npuhub/daskclusters").json()["items"]
        assert [c["metadata"]["labels"]["npuhub.io/user"] for c in clusters] == ["teacher1"]

        def placed_workers():
            pods = [p for p in cluster.pods() if p["metadata"]["labels"].get("dask.org/component") == "worker"]
            return pods if len(pods) == 2 and all(p["spec"].get("nodeName") for p in pods) else None
        workers = wait_until(placed_workers, 30, "2 worker pods placed", cluster.as_json)
        for pod in workers:
            assert pod["spec"]["nodeName"] == NODE
            limits = pod["spec"]["containers"][0]["resources"]["limits"]
            assert any(k.startswith("huawei.com/") for k in limits), limits  # the backend's resource
            assert pod["spec"]["automountServiceAccountToken"] is False
            assert pod["metadata"]["labels"]["npuhub.io/user"] == "teacher1"
        policies = cluster.api("GET", "/apis/networking.k8s.io/v1/namespaces/npuhub/networkpolicies").json()
        assert [p["metadata"]["name"] for p in policies["items"]] == [clusters[0]["metadata"]["name"]]

        r = requests.delete(f"{api}/{cid}", headers=headers, timeout=30)
        assert r.status_code in (200, 202, 204), r.text
        wait_until(lambda: not [p for p in cluster.pods() if "dask.org/cluster-name" in p["metadata"]["labels"]],
                   60, "the cluster's pods gone", stack.log)
        assert cluster.api("GET", "/apis/kubernetes.dask.org/v1/namespaces/npuhub/daskclusters").json()["items"] == []
        wait_until(lambda: stack.held() == "0", 30, "the workers' slices released", stack.log)
    finally:
        stack.admin("DELETE", "/users/teacher1/server")
        stack.admin.wait_for_server("teacher1", ready=False)
