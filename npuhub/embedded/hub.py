"""Wires JupyterHub for the embedded stack from the environment ``npuhub up`` prepares."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from ..auth.demo import EMBEDDED_ENV

__all__ = ["configure", "proxy_command", "LOGIN_NOTICE"]

LOGIN_NOTICE = (
    '<div class="alert alert-info" style="text-align:center">'
    "演示账号：student1–student40、labmember1–labmember3、teacher1、admin，"
    "密码见启动 npuhub 的终端。<br>"
    "Demo accounts: student1–student40, labmember1–labmember3, teacher1, admin; "
    "the password is printed in the terminal that started npuhub.</div>"
)


def proxy_command() -> str:
    """The configurable-http-proxy next to this interpreter, else on PATH."""
    beside = Path(sys.executable).parent / "configurable-http-proxy"
    if beside.exists():
        return str(beside)
    found = shutil.which("configurable-http-proxy")
    if not found:
        sys.exit(
            "FATAL: configurable-http-proxy is not installed; "
            "`pip install configurable-http-proxy` (or `make up`, which installs it)."
        )
    return found


def configure(c) -> None:
    """Fill the JupyterHub config ``c`` for the embedded stack."""
    if os.environ.get(EMBEDDED_ENV) != "embedded":
        sys.exit("FATAL: the embedded hub configuration is started by `npuhub up`, not directly.")
    data_dir = Path(os.environ.get("NPUHUB_DATA_DIR", "npuhub-data")).resolve()
    site_file = os.environ.get("NPUHUB_SITE_CONFIG", "")
    data_dir.mkdir(parents=True, exist_ok=True)

    c.JupyterHub.db_url = f"sqlite:///{data_dir / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(data_dir / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = str(data_dir / "jupyterhub.pid")
    c.ConfigurableHTTPProxy.pid_file = str(data_dir / "proxy.pid")
    c.ConfigurableHTTPProxy.command = [proxy_command()]
    c.JupyterHub.default_url = "/hub/home"
    c.JupyterHub.template_vars = {"announcement_login": LOGIN_NOTICE}

    c.JupyterHub.authenticator_class = "npuhub.auth.demo.DemoAuthenticator"
    c.JupyterHub.spawner_class = "npuhub.spawners.local.LocalNPUSpawner"
    c.LocalNPUSpawner.site_config_file = site_file
    c.LocalNPUSpawner.work_root = str(data_dir / "users")
    # JupyterLab's first start on a small machine can take a while.
    c.Spawner.start_timeout = 120
    c.Spawner.http_timeout = 120
    c.Spawner.poll_interval = 10
