"""A real JupyterHub with npuhub's embedded configuration on free loopback ports, for the benchmarks.

The benchmarks do not import the tests: this is the little they need of a hub
(start it, wait for it, sign people in, an admin token, stop it), on top of
npuhub itself.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
import yaml

BIN = Path(sys.executable).parent
PASSWORD = "bench-demo-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Hub:
    """``jupyterhub -f <workdir>/jupyterhub_config.py`` with npuhub's embedded configuration and ``site``."""

    def __init__(self, workdir: Path, site: dict, config: str, *,
                 header: str = "from npuhub.embedded.hub import configure\nconfigure(c)\n"):
        """``header``: the start of the hub's configuration (default: npuhub's embedded stack); ``config`` follows."""
        self.workdir, self.data_dir = workdir, workdir / "data"
        self.site_file = workdir / "npuhub.yaml"
        self.site_file.write_text(yaml.safe_dump(site, sort_keys=False))
        self.hub_config = workdir / "jupyterhub_config.py"
        self.hub_config.write_text(header + config)
        self.port, self.hub_port, self.api_port = free_port(), free_port(), free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "hub.log"
        self.proc: subprocess.Popen | None = None
        self._admin_token: str | None = None

    def start(self, timeout: float = 90) -> Hub:
        from npuhub.embedded.hub import NODE_PROXY

        if not (NODE_PROXY.exists() and shutil.which("node")):
            sys.exit(f"the Node configurable-http-proxy ({NODE_PROXY}) is missing: run `make up` once")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, NPUHUB_MODE="embedded", NPUHUB_DATA_DIR=str(self.data_dir),
                   NPUHUB_SITE_CONFIG=str(self.site_file), NPUHUB_PUBLIC_URL=self.base_url,
                   NPUHUB_DEMO_PASSWORD=PASSWORD)
        command = [str(BIN / "jupyterhub"), "-f", str(self.hub_config), "--ip=127.0.0.1",
                   f"--port={self.port}", f"--JupyterHub.hub_port={self.hub_port}",
                   f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{self.api_port}", "--log-level=INFO"]
        with open(self.log_path, "a") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(command, cwd=self.workdir, env=env, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                sys.exit(f"the hub exited with {self.proc.returncode}:\n{self.log_path.read_text()[-4000:]}")
            try:
                if requests.get(self.base_url + "/hub/api", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop()
                sys.exit(f"the hub did not come up in {timeout:.0f} s:\n{self.log_path.read_text()[-4000:]}")
            time.sleep(0.2)

    def token(self, user: str, note: str = "benchmark") -> str:
        """Sign ``user`` in through the login form (so the hub gives her her groups); make her a token."""
        http = requests.Session()
        http.get(self.base_url + "/hub/login", timeout=30)
        xsrf = http.cookies.get("_xsrf", path="/hub/") or http.cookies.get("_xsrf") or ""
        r = http.post(self.base_url + "/hub/login", allow_redirects=False, timeout=30,
                      data={"username": user, "password": PASSWORD, "_xsrf": xsrf})
        if r.status_code != 302:
            raise RuntimeError(f"sign-in of {user} failed: {r.status_code}")
        xsrf = http.cookies.get("_xsrf", path="/hub/") or http.cookies.get("_xsrf") or xsrf
        r = http.post(f"{self.base_url}/hub/api/users/{user}/tokens", json={"note": note},
                      headers={"X-XSRFToken": xsrf}, timeout=60)
        r.raise_for_status()
        return r.json()["token"]

    def admin_get(self, path: str) -> requests.Response:
        """``GET <hub>/hub/<path>`` as admin (the REST API under ``api/``, the metrics, ...)."""
        if self._admin_token is None:
            self._admin_token = self.token("admin")
        headers = {"Authorization": f"token {self._admin_token}"}
        return requests.get(f"{self.base_url}/hub/{path}", headers=headers, timeout=60)

    def stop(self) -> None:
        """Ctrl-C, as a person would; the hub stops the proxy and the service with it."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
