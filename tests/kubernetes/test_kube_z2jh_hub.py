"""The Helm chart's hub: z2jh's hub runs the chart's ``hub.extraConfig`` (npuhub.z2jh.configure_hub).

The values are the npuhub chart's own ``jupyterhub:`` section over z2jh's
defaults, written where z2jh's loader reads them; the hub's configuration is a
stand-in for z2jh's (tests/support/z2jh_hub, named as such: z2jh's file lives
in its hub image, which cannot run here) that ends by running
``hub.extraConfig`` as z2jh does. Then the real JupyterHub starts, against the
Kubernetes API emulator, with the real npuhub service running on its own (as
its Deployment would) and sign-in through the real OpenID provider of
tests/idp/oidc: a student gets a pod holding a quarter of an Ascend 910B.
"""

from __future__ import annotations

import json
import os
import sys

import pytest
import requests

from npuhub.groups import CUSTOM_SCOPES
from support.hubclient import HubAPI, HubSession
from support.kube_emulator import LAB, EmulatedCluster, EmulatedNode
from support.kube_stack import NODE, wait_until
from support.oidc_idp import CLIENT_ID, CLIENT_SECRET, SECRET_ENV, OIDCProvider, require_provider, sign_in
from support.service_stack import PREFIX, ServiceProcess
from support.sites import flavor, make_site, pool_of
from support.stacks import free_port
from support.z2jh_stack import EXTRA_CONFIG, STANDIN_CONFIG, Z2JHHub, chart_values, merged

pytestmark = pytest.mark.integration

#: An operator's values for the jupyterhub subchart: the images (no defaults in the chart), and the client
#: secret of the university's provider, from a Secret of its own (the Helm chapter, step 3).
OPERATOR_VALUES = {"singleuser": {"image": {"name": "registry.test/npuhub/singleuser-cpu", "tag": "0.1.0"}}, "hub": {
    "image": {"name": "registry.test/npuhub/hub", "tag": "0.1.0"},
    "extraEnv": {SECRET_ENV: {"valueFrom": {"secretKeyRef": {"name": "npuhub-oidc", "key": "client-secret"}}}},
    # an operator's own key on the service entry z2jh makes: kept by npuhub's wiring
    "services": {"npuhub": {"info": {"team": "hpc"}}},
}}
OPERATOR_SECRETS = {"npuhub-oidc": {"client-secret": CLIENT_SECRET}}


def chart_site(issuer: str, public_url: str) -> dict:
    """One node with one Ascend 910B behind the Ascend device plugin; the pods' image is singleuser.image."""
    return make_site(
        pool=[pool_of(1, 1, backend={"kind": "ascend-device-plugin", "ai_cores": 32})],
        flavors=[flavor("cpu"), flavor("npu-quarter", "1/4", memory="2G", default=True)],
        auth={"type": "oidc", "public_url": public_url,
              "oidc": {"issuer": issuer, "client_id": CLIENT_ID, "client_secret_env": SECRET_ENV,
                       "scopes": ["openid", "profile", "email", "groups"], "username_claim": "preferred_username"},
              "groups": {"claim": "groups", "admins": ["admins"], "allowed": ["course-demo", "lab-demo"]}},
        spawner={"type": "kubernetes", "kubernetes": {"pod_start_timeout": 20, "unschedulable_grace": 2}},
    )


def singleuser_image(values: dict) -> str:
    image = values["singleuser"]["image"]
    return f"{image['name']}:{image['tag']}" if image.get("tag") else image["name"]


def test_the_chart_hands_z2jh_exactly_npuhubs_extra_config():
    values = chart_values()
    assert values["hub"]["extraConfig"]["00-npuhub"].strip() == EXTRA_CONFIG.strip()
    assert values["hub"]["services"]["npuhub"]["url"] == "http://npuhub:10101"


@pytest.fixture
def cluster(tmp_path):
    image = singleuser_image(OPERATOR_VALUES)
    cluster = EmulatedCluster(tmp_path / "cluster", nodes=[EmulatedNode(NODE)], images={image: LAB}).start()
    yield cluster
    cluster.stop()


def configured(hub: Z2JHHub, monkeypatch, capsys) -> dict:
    """What the stand-in z2jh configuration and the chart's extraConfig make of ``c`` (in this process, no hub
    started; the environment is the hub pod's, put back afterwards). ``{"exit": message}`` when it stops."""
    from jupyterhub.app import JupyterHub

    hub.data_dir.mkdir(parents=True, exist_ok=True)
    hub.write_secret()
    for name in [n for n in os.environ if n.startswith(("NPUHUB_", "JUPYTERHUB_"))]:
        monkeypatch.delenv(name)
    for name, value in {**hub.hub_env(), "NPUHUB_TEST_Z2JH_ROOT": str(hub.z2jh_root)}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(hub.data_dir)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "z2jh", raising=False)  # the stand-in caches the values it read
    app = JupyterHub()
    # configure_hub writes the hub's environment (tokens, the crypt key) as a hub process would: put it back, or
    # the next hubs this test process starts inherit them (their spawner token then never reaches its file)
    before = dict(os.environ)
    try:
        app.load_config_file(str(STANDIN_CONFIG))
    except SystemExit as e:
        return {"exit": str(e.code), "out": capsys.readouterr()}
    finally:
        sys.modules.pop("z2jh", None)
        crypt = os.environ.get("JUPYTERHUB_CRYPT_KEY")
        os.environ.clear()
        os.environ.update(before)
    c = app.config
    return {"services": c.JupyterHub.services, "roles": c.JupyterHub.load_roles, "spawner": c.JupyterHub.spawner_class,
            "authenticator": c.JupyterHub.authenticator_class, "db_url": c.JupyterHub.db_url,
            "named": c.JupyterHub.allow_named_servers, "admission": c.NPUSpawnerMixin.admission_url,
            "namespace": c.KubeSpawner.namespace, "crypt": crypt,
            "hub_connect_url": c.JupyterHub.get("hub_connect_url"),
            "servers_reach": c.NPUSpawnerMixin.get("service_url_for_servers"),
            "pods_namespace": c.KubeNPUSpawner.get("namespace"), "workshops_db": c.WorkshopCodesMixin.db_url,
            "keys": c.CryptKeeper["keys"]}


def test_the_extra_config_extends_z2jhs_service_entry_and_keeps_z2jhs_database_and_secrets(tmp_path, monkeypatch,
                                                                                          capsys):
    cluster = type("NoCluster", (), {"namespace": "npuhub", "kubeconfig": tmp_path / "kubeconfig"})()
    site = chart_site("http://127.0.0.1:1", "https://jupyter.example.edu")
    hub = Z2JHHub(tmp_path / "hub", site, cluster, OPERATOR_VALUES, OPERATOR_SECRETS)
    c = configured(hub, monkeypatch, capsys)
    assert "exit" not in c, c
    npuhub = [s for s in c["services"] if s["name"] == "npuhub"]
    assert len(npuhub) == 1, c["services"]  # z2jh's entry, extended; not a second one
    service = npuhub[0]
    assert service["url"] == f"http://127.0.0.1:{hub.service_port}" and service["api_token"] == hub.service_token
    assert service["info"] == {"team": "hpc"} and service["oauth_no_confirm"] is True
    assert service["oauth_client_allowed_scopes"] == sorted(CUSTOM_SCOPES)
    names = [s["name"] for s in c["services"]]
    for name in ("npuhub-spawner", "npuhub-workshops"):
        assert names.count(name) == 1, names
        if name in hub.values["hub"]["services"]:  # the chart declares it: its token is z2jh's, kept across restarts
            token = next(s["api_token"] for s in c["services"] if s["name"] == name)
            assert token == hub.secrets["hub"][f"hub.services.{name}.apiToken"]
    assert c["spawner"] == "npuhub.spawners.kube.KubeNPUSpawner"
    assert c["authenticator"] == "npuhub.auth.oidc.NPUHubOIDCAuthenticator"  # the site's auth:, not z2jh's dummy
    assert c["db_url"] == "sqlite:///jupyterhub.sqlite" and c["namespace"] == "npuhub"
    assert c["named"] is hub.values["hub"]["allowNamedServers"]  # z2jh's value (the chart's, else z2jh's default)
    assert c["admission"] == f"http://127.0.0.1:{hub.service_port}/services/npuhub/api/v1"
    assert c["crypt"] == hub.secrets["hub"]["hub.config.CryptKeeper.keys"] == c["keys"][0]
    assert not (hub.data_dir / "crypt-key").exists()  # no second key beside z2jh's
    assert c["workshops_db"] == f"sqlite:///{hub.data_dir.resolve() / 'npuhub.sqlite'}"  # z2jh's hub volume
    service_role = next(r for r in c["roles"] if r["name"] == "npuhub-service")
    assert service_role["services"] == ["npuhub"] and "admin:servers" in service_role["scopes"]


def test_pods_in_another_namespace_reach_the_hub_and_the_service_by_cluster_wide_names(tmp_path, monkeypatch,
                                                                                       capsys):
    cluster = type("NoCluster", (), {"namespace": "npuhub", "kubeconfig": tmp_path / "kubeconfig"})()
    site = chart_site("http://127.0.0.1:1", "https://jupyter.example.edu")
    site["spawner"]["kubernetes"]["namespace"] = "npuhub-users"
    hub = Z2JHHub(tmp_path / "hub", site, cluster, OPERATOR_VALUES, OPERATOR_SECRETS)
    # not started: the cluster's names stay as the chart has them, and z2jh's hub_connect_url (its Service `hub`)
    hub.values = merged(hub.values, {"hub": {"services": {"npuhub": {"url": "http://npuhub:10101"}},
                                             "extraEnv": {"NPUHUB_SERVICE_URL": "http://npuhub:10101"},
                                             "config": {"JupyterHub": {"hub_connect_url": "http://hub:8081"},
                                                        "WorkshopCodesMixin": {
                                                            "db_url": "postgresql+psycopg://hub@db/workshops"}}}})
    c = configured(hub, monkeypatch, capsys)
    assert "exit" not in c, c
    assert c["pods_namespace"] == "npuhub-users" and c["namespace"] == "npuhub"
    assert c["hub_connect_url"] == "http://hub.npuhub.svc:8081"
    assert c["servers_reach"] == "http://npuhub.npuhub.svc:10101/services/npuhub/"
    assert c["workshops_db"] == "postgresql+psycopg://hub@db/workshops"  # the operator's hub.config stays
    assert c["admission"] == "http://npuhub:10101/services/npuhub/api/v1"  # the hub itself is in the namespace


@pytest.mark.parametrize("change, says", [
    ({"hub": {"config": {"JupyterHub": {"authenticator_class": "github"}}}},
     "jupyterhub.hub.config.JupyterHub.authenticator_class is 'github'"),
    ({"hub": {"extraEnv": {"NPUHUB_SERVICE_URL": "http://elsewhere:1"}}},
     "$NPUHUB_SERVICE_URL and jupyterhub.hub.services.npuhub.url differ"),
    ({"site": {"spawner": {"type": "local"}}}, "spawner.type is 'local'"),
    ({"site": {"auth": {"public_url": None}}}, "auth.public_url must be the hub's address"),
    ({"no service url": True}, "declare jupyterhub.hub.services.npuhub.url"),
])
def test_a_chart_misconfiguration_stops_the_hub_with_a_sentence_naming_the_key(tmp_path, monkeypatch, capsys,
                                                                              change, says):
    cluster = type("NoCluster", (), {"namespace": "npuhub", "kubeconfig": tmp_path / "kubeconfig"})()
    change = dict(change)
    site = merged(chart_site("http://127.0.0.1:1", "https://jupyter.example.edu"), change.pop("site", {}))
    site["auth"] = {k: v for k, v in site["auth"].items() if v is not None}
    no_service_url = change.pop("no service url", False)
    hub = Z2JHHub(tmp_path / "hub", site, cluster, merged(OPERATOR_VALUES, change), OPERATOR_SECRETS)
    if no_service_url:  # neither the values' service entry nor the variable: nowhere to send people's starts
        hub.values["hub"]["services"].pop("npuhub")
        hub.values["hub"]["extraEnv"].pop("NPUHUB_SERVICE_URL")
    c = configured(hub, monkeypatch, capsys)
    assert says in c.get("exit", ""), c  # hubconfig.fatal: the hub stops with this sentence, no traceback


def test_emulator_the_charts_hub_gives_a_student_a_quarter_npu_pod(tmp_path, cluster):
    require_provider()
    idp_port = free_port()
    hub = Z2JHHub(tmp_path / "hub", {}, cluster, OPERATOR_VALUES, OPERATOR_SECRETS)
    site = chart_site(f"http://127.0.0.1:{idp_port}", hub.base_url)
    hub.config.write_text(json.dumps(site))  # JSON is YAML
    idp = OIDCProvider(tmp_path / "idp", idp_port, [hub.base_url + "/hub/oauth_callback"]).start()
    service = ServiceProcess(hub, f"sqlite:///{tmp_path / 'admission.sqlite'}", tmp_path / "service")
    log = lambda: hub.log()[-6000:] + "\n--- service ---\n" + service.log(3000)  # noqa: E731
    try:
        hub.start()
        service.start()
        assert requests.get(hub.base_url + PREFIX + "health", timeout=10).status_code == 200, log()

        session = HubSession(hub.base_url)
        assert sign_in(session.http, hub.base_url, "alice").url.endswith("/hub/home"), log()
        token = session.api("POST", "/users/alice/tokens", json={"note": "chart test"}).json()["token"]
        student = HubAPI(hub.base_url, token)
        r = student("POST", "/users/alice/server", json={"profile": "npu-quarter"})
        assert r.status_code in (201, 202), r.text
        student.wait_for_server("alice", timeout=60)

        pod = cluster.pod("jupyter-alice")
        container = pod["spec"]["containers"][0]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["NPUHUB_SHARE"] == "1/4" and env["NPUHUB_FLAVOR"] == "npu-quarter"
        assert container["resources"]["limits"]["huawei.com/Ascend910-8c"] == "1"
        assert container["image"] == singleuser_image(hub.values)  # the chart's singleuser image
        # z2jh's per-user storage (singleuser.storage) is what the pod mounts
        assert {"name": "volume-alice", "mountPath": "/home/jovyan"}.items() <= \
            next(m for m in container["volumeMounts"] if m["name"] == "volume-alice").items()
        lab = session.http.get(hub.base_url + "/user/alice/lab", timeout=60)
        assert lab.status_code == 200 and "JupyterLab" in lab.text, log()
        me = requests.get(hub.base_url + PREFIX + "api/v1/me", headers={"Authorization": f"token {token}"},
                          timeout=30)
        assert me.status_code == 200, me.text

        assert student("DELETE", "/users/alice/server").status_code in (202, 204)
        student.wait_for_server("alice", ready=False, timeout=60)
        wait_until(lambda: cluster.pod("jupyter-alice") is None, 30, "the pod was not deleted", log)
    finally:
        hub.stop()
        service.stop()
        idp.stop()
