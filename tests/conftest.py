"""Shared fixtures: the real embedded stack (hub, proxy, servers) in a temporary directory."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).parent))

from hubclient import HubAPI, HubSession  # noqa: E402
from processes import log_tail, wait_until_up  # noqa: E402

#: Set by .ci/run: a missing real part (proxy, Chromium, ...) fails instead of skipping.
REQUIRE_ALL = os.environ.get("NPUHUB_REQUIRE_ALL") == "1"
PASSWORD = "test-demo-password"
BIN = Path(sys.executable).parent


def require(available: bool, what: str) -> None:
    """Skip when a real part is missing on a developer's machine; fail in CI."""
    if available:
        return
    if REQUIRE_ALL:
        pytest.fail(f"{what} is missing, and NPUHUB_REQUIRE_ALL=1 says it must be here")
    pytest.skip(f"{what} is missing")


@pytest.fixture
def postgres_url():
    """A fresh database on the real PostgreSQL at 127.0.0.1:5432, dropped afterwards."""
    import uuid

    import sqlalchemy as sa

    admin_url = os.environ.get("NPUHUB_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    name = f"npuhub_test_{uuid.uuid4().hex[:10]}"
    # pre-ping: a test may restart PostgreSQL in between (tests/reliability), cutting the pooled connection
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    try:
        with engine.connect() as db:
            db.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception as e:  # noqa: BLE001 (any failure means: no PostgreSQL here)
        engine.dispose()
        require(False, f"PostgreSQL at {admin_url} ({str(e).splitlines()[0]})")
    yield admin_url.rsplit("/", 1)[0] + "/" + name
    with engine.connect() as db:
        db.execute(sa.text(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        db.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    engine.dispose()


#: Debian's Chromium, never one downloaded by `playwright install` (no browser downloads here).
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
]


@pytest.fixture(scope="module")
def chromium():
    """A headless Chromium driven by Playwright, for the browser tests."""
    require(CHROMIUM.exists(), "Debian's chromium (/usr/bin/chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "the playwright Python package")
    pw = sync_playwright().start()
    try:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        pw.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmbeddedStack:
    """`npuhub up` as a real subprocess on free loopback ports."""

    def __init__(self, workdir: Path, site_yaml: str | None = None):
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.config = None
        if site_yaml is not None:
            self.config = workdir / "npuhub.yaml"
            self.config.write_text(textwrap.dedent(site_yaml))
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
        self.proc = subprocess.Popen(self.command(), cwd=self.workdir, env=env, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
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


#: A pool of one node with one device: small enough to fill in a test.
ONE_DEVICE_SITE = """
pool:
  - model: Ascend 910B
    nodes: 1
    devices_per_node: 1
    node_prefix: node
groups:
  course-demo: {kind: course}
  lab-demo: {kind: lab}
  teachers: {kind: role}
  admins: {kind: role}
flavors:
  - id: cpu
    cpu: 1
    memory: 1G
  - id: npu-quarter
    cpu: 1
    memory: 2G
    accelerator: {model: Ascend 910B, share: 1/4}
    default: true
  - id: npu-half
    cpu: 1
    memory: 2G
    accelerator: {model: Ascend 910B, share: 1/2}
    groups: [teachers, lab-demo, admins]
  - id: npu-1
    cpu: 1
    memory: 2G
    accelerator: {model: Ascend 910B, share: 1}
    groups: [lab-demo, admins]
limits:
  max_share: 1
  groups:
    course-demo: {max_share: 1/4}
    teachers: {max_share: 1}
"""


@pytest.fixture(scope="module")
def one_device_stack(tmp_path_factory):
    stack = EmbeddedStack(tmp_path_factory.mktemp("stack"), ONE_DEVICE_SITE).start()
    yield stack
    stack.stop()
