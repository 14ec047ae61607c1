"""The real embedded stack (`npuhub up`: hub, proxy, servers) as a subprocess on free loopback ports."""

from __future__ import annotations

import os
import pwd
import signal
import shutil
import subprocess
import sys
from pathlib import Path

import requests
import yaml

from npuhub.site_config import default_site_config_path
from npuhub.spawners.osusers import system_name

from support.hubclient import HubAPI, HubSession
from support.osusers import AS_ROOT, new_prefix, open_for_servers, reachable_dir, remove_accounts
from support.parallel import free_port  # noqa: F401 (re-exported: the tiers import it from here)
from support.parts import require
from support.processes import log_tail, wait_until_up
from support.sites import write_site

#: The demo accounts' password in every stack the tests start.
PASSWORD = "test-demo-password"
#: The virtualenv's bin directory: jupyterhub, npuhub, jlpm.
BIN = Path(sys.executable).parent


class EmbeddedStack:
    """`npuhub up` as a real subprocess on free loopback ports."""

    def __init__(self, workdir: Path, site: dict | None = None, *, run_as: str | None = None):
        """``site``: the site file's content (``support.sites.make_site(...)``); None: npuhub's default site.

        As root, the stack's per-person accounts get a prefix of their own
        (``user_prefix``, whatever the site says) and are removed at ``stop``.
        ``run_as``: run `npuhub up` as this (unprivileged) Unix user instead.
        """
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.user_prefix = ""
        self.run_as = run_as
        site_dir = workdir
        if AS_ROOT:
            # a data directory per-person accounts can reach (pytest's tmp_path is 0700 above)
            files = reachable_dir()
            self.data_dir = files / "data"
            open_for_servers()
            if run_as:
                account = pwd.getpwnam(run_as)
                os.chown(files, account.pw_uid, account.pw_gid)
                site_dir = files
            else:
                if site is None:
                    site = yaml.safe_load(default_site_config_path().read_text())
                isolation = dict(site.get("isolation") or {})
                isolation["user_prefix"] = new_prefix()
                self.user_prefix = isolation["user_prefix"]
                site = {**site, "isolation": isolation}
        self.config = None if site is None else write_site(site_dir / "npuhub.yaml", site)
        self.port, self.hub_port, self.api_port = free_port(), free_port(), free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "npuhub-up.log"
        self.proc: subprocess.Popen | None = None
        self._admin: HubAPI | None = None
        self._signed_in: set[str] = set()

    def command(self) -> list[str]:
        cmd = [str(BIN / "npuhub"), "up", "--data-dir", str(self.data_dir), "--port", str(self.port),
               "--hub-port", str(self.hub_port), "--proxy-api-port", str(self.api_port)]
        if self.config:
            cmd += ["--config", str(self.config)]
        return cmd

    def start(self, timeout: float = 60) -> "EmbeddedStack":
        from npuhub.embedded.hub import NODE_PROXY

        # the Node proxy: it streams the spawn page's queue progress (make up / make test install it)
        require(NODE_PROXY.exists() and shutil.which("node") is not None,
                f"the Node configurable-http-proxy ({NODE_PROXY})")
        env = dict(os.environ, NPUHUB_DEMO_PASSWORD=PASSWORD)
        log = open(self.log_path, "a")
        as_user = {}
        cwd = self.workdir
        if self.run_as:
            account = pwd.getpwnam(self.run_as)
            as_user = dict(user=account.pw_uid, group=account.pw_gid, extra_groups=[])
            cwd = self.data_dir.parent
            env["HOME"] = str(cwd)
        self.proc = subprocess.Popen(self.command(), cwd=cwd, env=env, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True, **as_user)
        wait_until_up(self.proc, self.base_url + "/hub/api", what="the hub (npuhub up)", timeout=timeout,
                      log=self.log, interval=0.2)
        return self

    def log(self) -> str:
        return log_tail(self.log_path)

    def stop(self) -> None:
        """Ctrl-C, as a person would; the hub stops every server and the proxy."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._admin = None
        if self.user_prefix:
            remove_accounts(self.user_prefix)

    def os_user(self, name: str) -> str:
        """The Unix account ``name``'s servers run as in this stack (as root)."""
        return system_name(name, self.user_prefix)

    def crash(self) -> None:
        """kill -9 of the hub alone: servers (own sessions) and the proxy keep running."""
        self.proc.kill()
        self.proc.wait()
        self._admin = None

    def session(self, username: str) -> HubSession:
        s = HubSession(self.base_url)
        r = s.login(username, PASSWORD)
        assert r.status_code == 302, f"login of {username} failed: {r.status_code}"
        return s

    @property
    def admin(self) -> HubAPI:
        if self._admin is None:
            s = self.session("admin")
            r = s.api("POST", "/users/admin/tokens", json={"note": "tests"})
            r.raise_for_status()
            self._admin = HubAPI(self.base_url, r.json()["token"])
        return self._admin

    def spawn(self, user: str, profile) -> requests.Response:
        """Ask for a server over the REST API, the way a z2jh script would.

        The person signs in first, once, so the hub knows her groups.
        """
        if user not in self._signed_in:
            self.session(user)
            self._signed_in.add(user)
        return self.admin("POST", f"/users/{user}/server", json={"profile": profile})

    def server_pids(self) -> list[int]:
        pids = []
        for user in self.admin("GET", "/users", params={"state": "active"}).json():
            for server in user.get("servers", {}).values():
                pid = (server.get("state") or {}).get("pid")
                if pid:
                    pids.append(pid)
        return pids


def process_env(pid: int) -> dict[str, str]:
    """The environment a running process was started with."""
    raw = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is not alive
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False
