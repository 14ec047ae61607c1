"""A site's hub, for real: `jupyterhub -f hub_config/jupyterhub_config.py` outside `npuhub up`.

The hub is configured only by the site file ($NPUHUB_SITE_CONFIG) and the
environment, as an operator runs it: sign-in through a real OpenID provider
(tests/idp/oidc), the npuhub service started by the hub, local servers.
A student signs in, starts a quarter NPU, works, stops; the slice is free.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.hubclient import HubAPI, HubSession
from support.osusers import AS_ROOT, reachable_dir
from support.parts import require
from support.oidc_idp import SECRET_ENV, OIDCProvider, oidc_site, require_provider, sign_in
from support.site_hub import HUB_CONFIG, SiteHub
from support.sites import make_site, write_site
from support.stacks import free_port, process_env

pytestmark = pytest.mark.integration

@pytest.fixture(scope="module")
def site(tmp_path_factory):
    require_provider()
    workdir = tmp_path_factory.mktemp("site-hub")
    idp_port = free_port()
    hub = SiteHub(workdir, oidc_site(f"http://127.0.0.1:{idp_port}"))
    idp = OIDCProvider(workdir / "idp", idp_port, [hub.base_url + "/hub/oauth_callback"]).start()
    try:
        hub.start()
        yield hub
    finally:
        hub.stop()
        idp.stop()


def signed_in(hub: SiteHub, user: str) -> HubSession:
    s = HubSession(hub.base_url)
    assert sign_in(s.http, hub.base_url, user).url.endswith("/hub/home")
    return s


def test_a_student_starts_a_quarter_npu_and_gives_it_back(site):
    hub = site
    admin = signed_in(hub, "ada")
    token = admin.api("POST", "/users/ada/tokens", json={"note": "site hub test"}).json()["token"]
    api = HubAPI(hub.base_url, token)
    alice = signed_in(hub, "alice")

    form = alice.spawn_form()
    assert 'value="npu-quarter"' in form.text and 'value="npu-1"' not in form.text  # her groups' menu
    r = alice.post_spawn({"profile": "npu-quarter"}, "alice")
    assert r.status_code == 302, r.text[:300]
    model = api.wait_for_server("alice")
    env = process_env(model["servers"][""]["state"]["pid"])
    assert env["ASCEND_VISIBLE_DEVICES"] == "0" and env["NPUHUB_SHARE"] == "1/4"
    assert env["NPUHUB_URL"].endswith("/services/npuhub/")
    assert model["servers"][""]["state"]["npuhub"] == {"request": env["NPUHUB_REQUEST_ID"]}
    lab = alice.http.get(hub.base_url + "/user/alice/lab", timeout=60)
    assert lab.status_code == 200 and "JupyterLab" in lab.text

    # While she holds a quarter, the whole device waits; once she stops, it is granted.
    assert api("POST", "/users/ada/server", json={"profile": "npu-1"}).status_code == 202
    assert api("DELETE", "/users/alice/server").status_code in (202, 204)
    api.wait_for_server("alice", ready=False)
    api.wait_for_server("ada")
    assert api("DELETE", "/users/ada/server").status_code in (202, 204)
    api.wait_for_server("ada", ready=False)

    # Secrets the hub generated live in its working directory, readable by its own user only.
    for name in ("crypt-key", "spawner-token", "jupyterhub_cookie_secret"):
        assert (hub.data_dir / name).stat().st_mode & 0o077 == 0, name


def run_hub_config(tmp_path, site: dict | None, env: dict) -> subprocess.CompletedProcess:
    """Load `hub_config/jupyterhub_config.py` as `jupyterhub -f` does, and nothing more."""
    if site is not None:
        write_site(tmp_path / "npuhub.yaml", site)
    code = ("from jupyterhub.app import JupyterHub\n"
            "app = JupyterHub()\n"
            f"app.load_config_file({str(HUB_CONFIG)!r})\n"
            "print('loaded', app.config.NPUSpawnerMixin.admission_url)\n")
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("NPUHUB_")}
    full_env.update(env)
    # as root, per-person accounts must reach their directories in it (tmp_path is closed above)
    full_env.setdefault("NPUHUB_DATA_DIR", str(reachable_dir()))
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=full_env, capture_output=True, text=True,
                          timeout=60)


def test_the_hub_refuses_to_start_without_a_site_file_or_with_demo_sign_in(tmp_path):
    missing = run_hub_config(tmp_path, None, {})
    assert missing.returncode != 0 and "$NPUHUB_SITE_CONFIG must name the site file" in missing.stderr
    demo = run_hub_config(tmp_path, make_site(), {"NPUHUB_SITE_CONFIG": str(tmp_path / "npuhub.yaml")})
    assert demo.returncode != 0 and "only `npuhub up`" in demo.stderr and "Traceback" not in demo.stderr
    no_secret = run_hub_config(tmp_path, oidc_site("http://127.0.0.1:1"),
                               {"NPUHUB_SITE_CONFIG": str(tmp_path / "npuhub.yaml")})
    assert no_secret.returncode != 0 and f"${SECRET_ENV}, which is not set" in no_secret.stderr
    ok = run_hub_config(tmp_path, oidc_site("http://127.0.0.1:1"),
                        {"NPUHUB_SITE_CONFIG": str(tmp_path / "npuhub.yaml"), SECRET_ENV: "x"})
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "/services/npuhub/api/v1" in ok.stdout


def test_a_hub_without_the_service_url_says_what_to_set(tmp_path):
    config = tmp_path / "jupyterhub_config.py"
    config.write_text("c.JupyterHub.spawner_class = 'npuhub.spawners.local.LocalNPUSpawner'\n"
                      "from npuhub import hubconfig\nhubconfig.check(c)\n")
    r = subprocess.run([sys.executable, "-c", "from jupyterhub.app import JupyterHub\n"
                        f"JupyterHub().load_config_file({str(config)!r})"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "c.NPUSpawnerMixin.admission_url is not set" in r.stderr


def test_where_accounts_cannot_reach_the_data_directory_the_hub_says_so_and_lets_no_real_person_in(tmp_path):
    """As root: a data directory below one closed to others (pytest's own, mode 0700) cannot hold per-person
    directories. ``auto`` falls back to one shared OS user, says why, and so refuses OpenID Connect;
    an explicit ``os-users`` stops the hub with the reason."""
    require(AS_ROOT, "root (per-person Unix accounts; CI runs as root)")
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    env = {"NPUHUB_SITE_CONFIG": str(tmp_path / "npuhub.yaml"), SECRET_ENV: "x",
           "NPUHUB_DATA_DIR": str(closed / "data")}
    auto = run_hub_config(tmp_path, oidc_site("http://127.0.0.1:1"), env)
    assert auto.returncode != 0 and "Traceback" not in auto.stderr
    assert "no Unix account per person" in auto.stderr and "may not be passed through" in auto.stderr
    assert "every server would run as the same OS user" in auto.stderr and "所有服务器" in auto.stderr
    explicit = run_hub_config(tmp_path, oidc_site("http://127.0.0.1:1") | {"isolation": {"mode": "os-users"}}, env)
    assert explicit.returncode != 0 and "isolation.mode is os-users, but" in explicit.stderr
