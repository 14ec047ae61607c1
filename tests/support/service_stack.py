"""The service tests' real parts: a JupyterHub that knows the npuhub service, and the service process.

The fixtures ``service_hub`` (one hub per test session) and ``start_service``
are imported by the conftest.py of the tiers that use them (service, labext).

The hub is the embedded stack's configuration (``npuhub.embedded.hub.configure``)
with ``$NPUHUB_SERVICE_URL`` set, so it registers the service as running
elsewhere: the tests start, ``kill -9`` and restart the service process
themselves, against SQLite or the real PostgreSQL, while the hub keeps
routing ``/services/npuhub/`` to it and answering who each token belongs to.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from unittest import mock

import pytest
import requests

from support.processes import log_tail, wait_until_up
from support.sites import DEMO_GROUPS, make_site
from support.stacks import BIN, EmbeddedStack, free_port

#: The hub's configuration file (it names the test authenticator, so it must be a file the hub reads).
HUB_CONFIG = Path(__file__).resolve().parents[1] / "service" / "jupyterhub_config.py"
PREFIX = "/services/npuhub/"

#: One node with two devices (8 quarter slices), a second course for "another group's teacher".
#: Budgets: each student 1 device-hour a day; the lab shares 100 a week.
SITE = make_site(
    devices_per_node=2,
    groups={**DEMO_GROUPS, "course-ai": {"kind": "course"}},
    limits={"max_share": 1, "groups": {"course-demo": {"max_share": "1/4"}, "course-ai": {"max_share": "1/4"},
                                       "lab-demo": {"max_share": 2}}},
    quotas=[{"scope": "user", "groups": ["course-demo", "course-ai"], "device_hours": 1, "period": "day"},
            {"scope": "group", "groups": ["lab-demo"], "device_hours": 100, "period": "week"}],
)

#: Fast ticks for the tests.
SERVICE_CONFIG = """
c.NPUHubService.meter_interval = METER_INTERVAL
c.NPUHubService.store_retry_interval = 0.3
c.NPUHubService.over_budget_grace = GRACE
c.NPUHubService.hub_cache_max_age = 300
# These tests hold grants with no server behind them (API calls only): reconciliation with the hub would
# end them within seconds. The tests of reconciliation run the whole stack (tests/integration).
c.NPUHubService.reconcile_interval = 3600
"""

USERS = [f"student{i}" for i in range(1, 25)] + ["teacher1", "teacher2", "aistudent1", "labmember1", "admin"]


class ServiceHub(EmbeddedStack):
    """A real hub that routes /services/npuhub/ to a service the tests run themselves."""

    def __init__(self, workdir: Path):
        super().__init__(workdir, SITE)
        self.service_port = free_port()
        self.service_token = secrets.token_hex(16)
        self._tokens: dict[tuple, str] = {}

    def command(self) -> list[str]:
        return [str(BIN / "jupyterhub"), "-f", str(HUB_CONFIG), "--ip=127.0.0.1",
                f"--port={self.port}", f"--JupyterHub.hub_port={self.hub_port}",
                f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{self.api_port}", "--log-level=INFO"]

    def start(self, timeout: float = 60) -> ServiceHub:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            "NPUHUB_MODE": "embedded",
            "NPUHUB_DATA_DIR": str(self.data_dir),
            "NPUHUB_SITE_CONFIG": str(self.config),
            "NPUHUB_SERVICE_URL": f"http://127.0.0.1:{self.service_port}",
            "NPUHUB_SERVICE_API_TOKEN": self.service_token,
            # the hub's pages ask for the announcements every second (10 s in production)
            "NPUHUB_ANNOUNCEMENTS_REFRESH": "1",
        }
        with mock.patch.dict(os.environ, env):
            return super().start(timeout)

    @property
    def service_base(self) -> str:
        """The service's API through the hub's proxy, as clients reach it."""
        return f"{self.base_url}{PREFIX}api/v1"

    def token(self, user: str, scopes: tuple[str, ...] | None = None) -> str:
        """An API token of ``user`` (who signs in, so the hub knows her groups and roles), made once.

        With ``scopes``, the token carries exactly those (what a server's token would carry).
        """
        key = (user, scopes)
        if key not in self._tokens:
            body = {"note": "service tests"}
            if scopes is not None:
                body["scopes"] = list(scopes)
            r = self.session(user).api("POST", f"/users/{user}/tokens", json=body)
            r.raise_for_status()
            self._tokens[key] = r.json()["token"]
        return self._tokens[key]

    def sign_in_all(self, users) -> None:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(self.token, users))


class Client:
    """One person's calls to the service's API, with her token."""

    def __init__(self, base: str, token: str | None, name: str = "anonymous"):
        self.base = base
        self.name = name
        self.http = requests.Session()
        if token:
            self.http.headers["Authorization"] = f"token {token}"

    def __call__(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return self.http.request(method, self.base + path, **kwargs)

    def get(self, path, **kw):
        return self("GET", path, **kw)

    def post(self, path, body, **kw):
        return self("POST", path, json=body, **kw)

    def delete(self, path, **kw):
        return self("DELETE", path, **kw)


class Patient:
    """A client that retries through outages (no answer, 502/503/504 from the proxy) with the same request, up to a deadline."""

    def __init__(self, client: Client, deadline: float):
        self.client = client
        self.deadline = deadline
        self.outages = 0

    def __call__(self, method: str, path: str, **kwargs) -> requests.Response:
        while True:
            try:
                r = self.client(method, path, timeout=10, **kwargs)
                if r.status_code not in (502, 503, 504):
                    return r
            except requests.RequestException:
                pass
            self.outages += 1
            if time.monotonic() > self.deadline:
                raise TimeoutError(f"{self.client.name}: {method} {path} never answered")
            time.sleep(0.1)


class ServiceProcess:
    """``python -m npuhub.service`` as the hub would start it, on the port the hub routes to."""

    def __init__(self, hub: ServiceHub, db_url: str, workdir: Path, meter_interval: float = 0.5,
                 grace: float = 600.0, port: int | None = None, site: Path | None = None, extra_config: str = ""):
        """``port``: another port than the one the hub routes to (a second replica, reached directly);
        ``site``: a site file of its own (the hub's otherwise); ``extra_config``: lines added to its config."""
        self.hub = hub
        self.db_url = db_url
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "npuhub_service_config.py"
        self.config.write_text(textwrap.dedent(SERVICE_CONFIG.replace("METER_INTERVAL", repr(meter_interval)).replace("GRACE", repr(grace)))
                               + textwrap.dedent(extra_config))
        self.log_path = workdir / "service.log"
        self.proc: subprocess.Popen | None = None
        self.port = port or hub.service_port
        self.site = site or hub.config
        self.url = f"http://127.0.0.1:{self.port}"

    def env(self) -> dict:
        return dict(
            os.environ,
            JUPYTERHUB_API_TOKEN=self.hub.service_token,
            JUPYTERHUB_API_URL=f"http://127.0.0.1:{self.hub.hub_port}/hub/api",
            JUPYTERHUB_SERVICE_URL=self.url,
            JUPYTERHUB_SERVICE_PREFIX=PREFIX,
            JUPYTERHUB_SERVICE_NAME="npuhub",
            JUPYTERHUB_CLIENT_ID="service-npuhub",
            JUPYTERHUB_BASE_URL="/",
            JUPYTERHUB_OAUTH_CALLBACK_URL=PREFIX + "oauth_callback",
            JUPYTERHUB_OAUTH_ACCESS_SCOPES='["access:services!service=npuhub"]',
            NPUHUB_SITE_CONFIG=str(self.site),
            NPUHUB_DB_URL=self.db_url,
        )

    def start(self, timeout: float = 30) -> ServiceProcess:
        with open(self.log_path, "a") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen([sys.executable, "-m", "npuhub.service", f"--config={self.config}"],
                                         cwd=self.workdir, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        wait_until_up(self.proc, f"{self.url}{PREFIX}api/v1/openapi.json", what="the service",
                      timeout=timeout, log=self.log)
        return self

    def log(self, tail: int = 8000) -> str:
        return log_tail(self.log_path, tail)

    def kill(self) -> None:
        """kill -9: no clean-up, no last commit."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def client(self, user: str | None) -> Client:
        return Client(self.hub.service_base, self.hub.token(user) if user else None, user or "anonymous")

    @property
    def direct_base(self) -> str:
        """The service's API on its own port, not through the hub's proxy (a replica the hub does not route to)."""
        return f"{self.url}{PREFIX}api/v1"

    def direct_client(self, user: str | None) -> Client:
        return Client(self.direct_base, self.hub.token(user) if user else None, user or "anonymous")

    def health(self) -> requests.Response:
        """``GET /services/npuhub/health`` on its own port: 200 from the leader, 503 from a standby."""
        return requests.get(f"{self.url}{PREFIX}health", timeout=10)


@pytest.fixture(scope="session")
def service_hub(tmp_path_factory):
    """One hub for every test of the session that asks (its people signed in once); stopped at the end."""
    hub = ServiceHub(tmp_path_factory.mktemp("service-hub"))
    try:
        hub.start()
        hub.sign_in_all(USERS)
        yield hub
    finally:
        hub.stop()


@pytest.fixture
def start_service(service_hub, tmp_path):
    """Start the service on a given database; every process started is stopped after the test."""
    started: list[ServiceProcess] = []

    def start(db_url: str | None = None, **kwargs) -> ServiceProcess:
        for earlier in started:
            earlier.kill()
        db_url = db_url or f"sqlite:///{tmp_path / 'admission.sqlite'}"
        proc = ServiceProcess(service_hub, db_url, tmp_path / f"service-{len(started)}", **kwargs).start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()
