"""Wires JupyterHub for the embedded stack: npuhub's site wiring plus demo accounts, free ports and the Node proxy.

Everything a real site runs is in ``npuhub.hubconfig``; this adds only what
``npuhub up`` needs on one machine: the data directory it prepared, the demo
accounts' notice on the login page, and the proxy that streams the queue's
progress to the spawn page.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from .. import hubconfig
from ..auth.demo import EMBEDDED_ENV

__all__ = ["configure", "proxy_command", "LOGIN_NOTICE"]

LOGIN_NOTICE = (
    '<div class="alert alert-info" style="text-align:center">'
    "演示账号：student1–student40、labmember1–labmember3、vision1–vision2、teacher1、admin，"
    "密码见启动 npuhub 的终端。<br>"
    "Demo accounts: student1–student40, labmember1–labmember3, vision1–vision2, teacher1, admin; "
    "the password is printed in the terminal that started npuhub.</div>"
)


#: The Node proxy installed by `make up` (scripts/bootstrap.sh) in a checkout.
NODE_PROXY = Path(__file__).resolve().parents[2] / "hub_config" / "proxy" / "node_modules" / ".bin" / \
    "configurable-http-proxy"


def proxy_command() -> str:
    """The proxy to run: $NPUHUB_PROXY_COMMAND, else the Node configurable-http-proxy, else the Python one.

    The Node proxy comes first because it streams the spawn page's progress
    events (queue position and estimate) as they happen; the Python
    implementation holds a streamed answer until it ends, so people would see
    their place in the queue only once they are admitted.
    """
    chosen = os.environ.get("NPUHUB_PROXY_COMMAND")
    if chosen:
        return chosen
    if NODE_PROXY.exists() and shutil.which("node"):
        return str(NODE_PROXY)
    beside = Path(sys.executable).parent / "configurable-http-proxy"
    if beside.exists():
        print("npuhub: using the Python configurable-http-proxy; queue progress reaches the spawn page only "
              "when the start ends (install Node.js and run `make up` for the streaming proxy)", file=sys.stderr)
        return str(beside)
    found = shutil.which("configurable-http-proxy")
    if not found:
        sys.exit(
            "FATAL: configurable-http-proxy is not installed; run `make up`, which installs it "
            "(or `npm install -g configurable-http-proxy`)."
        )
    return found


def configure(c) -> None:
    """Fill the JupyterHub config ``c`` for the embedded stack."""
    if os.environ.get(EMBEDDED_ENV) != "embedded":
        sys.exit("FATAL: the embedded hub configuration is started by `npuhub up`, not directly; "
                 "a site's hub uses hub_config/jupyterhub_config.py.")
    data_dir = hubconfig.data_dir()
    c.JupyterHub.db_url = f"sqlite:///{data_dir / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(data_dir / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = str(data_dir / "jupyterhub.pid")
    c.ConfigurableHTTPProxy.pid_file = str(data_dir / "proxy.pid")
    c.ConfigurableHTTPProxy.command = [proxy_command()]
    site = hubconfig.configure(c, embedded=True)
    if site.auth.type == "demo":
        c.JupyterHub.template_vars = {**hubconfig.config_dict(c.JupyterHub, "template_vars"),
                                      "announcement_login": LOGIN_NOTICE}
