"""A site's hub (`hub_config/jupyterhub_config.py`) runs KubeNPUSpawner when the site file says so."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.oidc_idp import SECRET_ENV, oidc_site
from support.sites import write_site

pytestmark = pytest.mark.integration

HUB_CONFIG = Path(__file__).resolve().parents[2] / "hub_config" / "jupyterhub_config.py"


def loaded(tmp_path, site: dict) -> str:
    write_site(tmp_path / "npuhub.yaml", site)
    code = ("from jupyterhub.app import JupyterHub\n"
            "app = JupyterHub()\n"
            f"app.load_config_file({str(HUB_CONFIG)!r})\n"
            "k = app.config.KubeNPUSpawner\n"
            "print(app.config.JupyterHub.spawner_class, k.get('namespace'), k.get('image'), k.get('storage_class'),"
            " k.get('pod_start_timeout'))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NPUHUB_")}
    env.update(NPUHUB_SITE_CONFIG=str(tmp_path / "npuhub.yaml"), **{SECRET_ENV: "x"})
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout.strip()


def test_the_site_file_chooses_the_kubernetes_spawner_and_its_pod_settings(tmp_path):
    site = oidc_site("http://127.0.0.1:1")
    site["isolation"] = {"mode": "shared", "allow_shared_os_user": True}  # (local servers: not what this is about)
    assert loaded(tmp_path, site).startswith("npuhub.spawners.local.LocalNPUSpawner ")
    for entry in site["pool"]:  # pods get their device from the backend (required with pods)
        entry["backend"] = {"kind": "hami-ascend", "chip": "Ascend910B2"}
    site["spawner"] = {"type": "kubernetes", "kubernetes": {"namespace": "jupyter", "image": "reg.example/lab:1",
                                                            "storage_class": "ceph", "pod_start_timeout": 900}}
    assert loaded(tmp_path, site) == "npuhub.spawners.kube.KubeNPUSpawner jupyter reg.example/lab:1 ceph 900.0"


def test_the_kubernetes_spawner_is_registered_as_an_entry_point():
    import tomllib

    project = tomllib.loads((HUB_CONFIG.parents[1] / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["jupyterhub.spawners"]["npuhub-kubernetes"] == \
        "npuhub.spawners.kube:KubeNPUSpawner"
