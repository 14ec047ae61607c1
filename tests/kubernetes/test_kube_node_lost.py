"""A node deleted under running pods, against the Kubernetes API emulator, with the real service and a real hub.

No Kubernetes can run here: the API is emulated (tests/support/kube_emulator.py),
its emulated kubelet runs each pod's container as a real JupyterLab process.
The pool is the cluster's: the site file says ``pool: {kubernetes: ...}``, so
the real npuhub service watches the emulator's Node objects. `npuhub up`
refuses such a pool (it runs one machine), so the hub is a site's hub
(`jupyterhub -f hub_config/jupyterhub_config.py`, sign-in through the real
OpenID provider of tests/idp/oidc) whose KubeSpawner and service both read the
emulator's kubeconfig. Deleting node X removes its Node object and takes it
away from the emulated scheduler, as ``kubectl delete node`` would.
"""

from __future__ import annotations

import time

import pytest
import requests

from support.hubclient import HubAPI, HubSession
from support.kube_emulator import LAB, EmulatedCluster, EmulatedNode
from support.kube_emulator_nodes import node_object
from support.kube_stack import LAB_IMAGE, POD_START_TIMEOUT, UNSCHEDULABLE_GRACE, wait_until
from support.oidc_idp import CLIENT_ID, SECRET_ENV, OIDCProvider, require_provider, sign_in
from support.sites import KUBE_LABEL, KUBE_RESOURCE, flavor, kube_pool, make_site
from support.site_hub import SiteHub
from support.stacks import free_port

pytestmark = pytest.mark.integration

LABELS = {KUBE_LABEL: "ascend-910b"}
NODES = ("npu-a", "npu-b")
#: How long the hub may take to stop a server whose node was lost (the service asks it at once).
STOP_BOUND = 30


def cluster_site(issuer: str) -> dict:
    """Two emulated nodes of one Ascend 910B each, from the cluster; whole-device flavors for the lab."""
    pool = kube_pool()
    pool["kubernetes"]["models"][0]["backend"] = {"kind": "ascend-device-plugin", "ai_cores": 32}
    return make_site(
        pool=pool,
        flavors=[flavor("cpu", image=LAB_IMAGE), flavor("npu-1", 1, memory="2G", default=True, image=LAB_IMAGE)],
        limits={"max_share": 1},
        auth={"type": "oidc",
              "oidc": {"issuer": issuer, "client_id": CLIENT_ID, "client_secret_env": SECRET_ENV,
                       "scopes": ["openid", "profile", "email", "groups"], "username_claim": "preferred_username"},
              "groups": {"claim": "groups", "admins": ["admins"], "allowed": ["course-demo", "lab-demo"]}},
        spawner={"type": "kubernetes", "kubernetes": {
            "namespace": "npuhub", "image": LAB_IMAGE, "storage_class": "emulated", "storage_capacity": "1Gi",
            "pod_start_timeout": POD_START_TIMEOUT, "unschedulable_grace": UNSCHEDULABLE_GRACE}},
    )


class ClusterSiteHub(SiteHub):
    """The site's hub: KubeSpawner and the npuhub service both talk to the emulator."""

    def __init__(self, workdir, site, cluster: EmulatedCluster):
        super().__init__(workdir, site)
        self.cluster = cluster

    def start(self, timeout: float = 60) -> "ClusterSiteHub":
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("KUBECONFIG", str(self.cluster.kubeconfig))
            mp.setenv("NPUHUB_SERVICE_ARGS", f"--NPUHubService.kubeconfig={self.cluster.kubeconfig}")
            return super().start(timeout)


@pytest.fixture
def stack(tmp_path):
    require_provider()
    cluster = EmulatedCluster(tmp_path / "cluster", nodes=[EmulatedNode(n, labels=dict(LABELS)) for n in NODES],
                              images={LAB_IMAGE: LAB}).start()
    for name in NODES:
        r = cluster.api("POST", "/api/v1/nodes", json=node_object(name, 1, LABELS, KUBE_RESOURCE))
        r.raise_for_status()
    idp_port = free_port()
    (tmp_path / "hub").mkdir()
    hub = ClusterSiteHub(tmp_path / "hub", cluster_site(f"http://127.0.0.1:{idp_port}"), cluster)
    idp = OIDCProvider(tmp_path / "idp", idp_port, [hub.base_url + "/hub/oauth_callback"]).start()
    try:
        hub.start()
        yield hub, cluster
    finally:
        hub.stop()
        idp.stop()
        cluster.stop()


class Person:
    """Someone signed in through the provider, with a token of her own for the hub's and the service's APIs."""

    def __init__(self, hub: SiteHub, name: str):
        self.name = name
        self.base = hub.base_url
        self.session = session = HubSession(hub.base_url)
        assert sign_in(session.http, hub.base_url, name).url.endswith("/hub/home")
        token = session.api("POST", f"/users/{name}/tokens", json={"note": "node lost test"}).json()["token"]
        self.hub = HubAPI(hub.base_url, token)
        self.headers = {"Authorization": f"token {token}"}

    def service(self, path: str, **params) -> dict:
        r = requests.get(self.base + "/services/npuhub/api/v1" + path, params=params, headers=self.headers,
                         timeout=30)
        assert r.status_code == 200, r.text
        return r.json()

    def start(self, profile: str = "npu-1") -> None:
        r = self.hub("POST", f"/users/{self.name}/server", json={"profile": profile})
        assert r.status_code in (201, 202), r.text

    def live_requests(self) -> list[dict]:
        return [r for r in self.service("/requests", user=self.name)["requests"]
                if r["state"] in ("waiting", "granted")]


def test_emulator_a_node_deleted_under_a_running_pod_ends_her_grant_stops_her_server_and_frees_nothing_twice(stack):
    hub, cluster = stack
    log = lambda: hub.log()[-8000:] + "\n--- pods ---\n" + cluster.as_json()  # noqa: E731
    pool_and_log = lambda: f"{ada.service('/pool')}\n{log()}"  # noqa: E731
    ada, alice, tina = Person(hub, "ada"), Person(hub, "alice"), Person(hub, "tina")
    wait_until(lambda: ada.service("/pool")["models"][0]["capacity"] == "2", 30,
               "the service did not see the emulated cluster's two nodes", pool_and_log)

    # alice and tina each hold a whole device, each in a pod running a real JupyterLab on her node
    alice.start()
    ada.hub.wait_for_server("alice", timeout=90)
    tina.start()
    ada.hub.wait_for_server("tina", timeout=90)
    [mine] = alice.live_requests()
    node_x = mine["grant"]["node"]
    [remaining] = [n for n in NODES if n != node_x]
    assert cluster.pod("jupyter-alice")["spec"]["nodeName"] == node_x
    assert cluster.pod("jupyter-tina")["spec"]["nodeName"] == remaining
    lab = alice.session.http.get(hub.base_url + "/user/alice/lab", timeout=60)  # through the hub's proxy
    assert lab.status_code == 200 and "JupyterLab" in lab.text
    assert ada.service("/pool")["models"][0]["held"] == "2"

    # ada (a lab admin here) asks for a device too: none is free, she waits
    ada.start()
    wait_until(lambda: [r["state"] for r in ada.live_requests()] == ["waiting"], 30, "ada does not wait", log)

    # node X is deleted from the cluster under alice's running pod
    cluster.nodes[:] = [n for n in cluster.nodes if n.name != node_x]  # the scheduler no longer sees it
    deleted_at = time.monotonic()
    assert cluster.api("DELETE", f"/api/v1/nodes/{node_x}").status_code == 200

    # her request ends with node_lost, in both languages, through the API she reads
    ended = wait_until(lambda: (r := alice.service(f"/requests/{mine['id']}"))["state"] == "released" and r,
                       STOP_BOUND, "alice's grant did not end", log)
    assert ended["reason"] == "node_lost"
    assert "removed from the cluster" in ended["message"]["en"] and "已从集群中移除" in ended["message"]["zh"]

    # the hub stops her server within the bound: no running server, her pod deleted
    ada.hub.wait_for_server("alice", ready=False, timeout=STOP_BOUND)
    wait_until(lambda: cluster.pod("jupyter-alice") is None, STOP_BOUND, "alice's pod was not deleted", log)
    assert time.monotonic() - deleted_at < STOP_BOUND + 5
    assert alice.live_requests() == []

    # nothing counted twice: the lost device is gone with its node, not given to ada; tina keeps hers
    pool = ada.service("/pool")
    model = pool["models"][0]
    assert model["capacity"] == "1" and model["held"] == "1", pool
    assert [n["name"] for n in pool["nodes"]] == [remaining]
    assert pool["lost_nodes"][0]["name"] == node_x and pool["lost_nodes"][0]["requests"] == [mine["id"]]
    assert [r["state"] for r in ada.live_requests()] == ["waiting"]
    assert ada.hub.user("tina")["servers"][""]["ready"] and cluster.pod("jupyter-tina") is not None

    # tina stops: the one device left goes to ada, on the remaining node, in a pod that runs
    assert ada.hub("DELETE", "/users/tina/server").status_code in (202, 204)
    ada.hub.wait_for_server("ada", timeout=90)
    [granted] = ada.live_requests()
    assert granted["state"] == "granted" and granted["grant"]["node"] == remaining
    assert cluster.pod("jupyter-ada")["spec"]["nodeName"] == remaining
    assert ada.service("/pool")["models"][0]["held"] == "1"
    assert "Traceback" not in hub.log()
