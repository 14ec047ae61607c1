"""Fixtures of the lab extension's server-part tests: a real Jupyter server with it, a real service.

The Jupyter server is pytest-jupyter's (``jp_serverapp``, ``jp_fetch``); its
fixtures are imported into the test modules from here, since only the root
conftest may name plugins. It runs on pytest-jupyter's own event loop, so the
tests are plain functions that drive it with ``run(...)``.

The npuhub service is the real one of tests/service (``service_stack``), behind
the real hub; the server part gets a real hub token of a person, made through
the hub's REST API with only the scopes it is meant to have.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "service"))
# The source, not an installed copy: a non-editable install would test what was last installed.
sys.path.insert(0, str(ROOT / "extensions" / "npuhub-lab"))

from pytest_jupyter.jupyter_server import *  # pytest-jupyter's fixtures, for the test modules
from service_stack import PREFIX, ServiceProcess
from service_stack import service_hub  # noqa: F401 (a fixture; the test modules import it from here)

#: What every test server gets unless a test asks otherwise: fresh answers each poll.
DEFAULTS = {"cache_seconds": 0, "request_timeout": 5}

_TOKENS: dict[tuple, str] = {}


def npuhub_token(hub, user: str, scopes=("custom:npuhub:use",)) -> str:
    """A hub API token of ``user`` with exactly ``scopes`` (what a server's token would carry)."""
    key = (hub.base_url, user, tuple(scopes))
    if key not in _TOKENS:
        r = hub.session(user).api("POST", f"/users/{user}/tokens",
                                  json={"note": "lab extension tests", "scopes": list(scopes)})
        r.raise_for_status()
        _TOKENS[key] = r.json()["token"]
    return _TOKENS[key]


class LabService(ServiceProcess):
    """The service with its request log at DEBUG, to count what the server part asks it."""

    def start(self, timeout: float = 30) -> LabService:
        with open(self.config, "a") as f:
            f.write('\nc.NPUHubService.log_level = "DEBUG"\n')
        return super().start(timeout)

    def reads(self, path: str) -> int:
        """How many ``GET api/v1/<path>`` the service has answered."""
        pattern = re.compile(rf" \d{{3}} GET {re.escape(PREFIX)}api/v1/{re.escape(path)} ")
        return len(pattern.findall(self.log(tail=10**7)))


@pytest.fixture
def lab_service(service_hub, tmp_path):
    """A fresh service (its own SQLite database) behind the shared hub; stopped after the test."""
    svc = LabService(service_hub, f"sqlite:///{tmp_path / 'admission.sqlite'}", tmp_path / "service").start()
    yield svc
    svc.stop()


@pytest.fixture
def lab_options(request):
    """``NPUHubLab`` settings on top of the defaults; tests set them with indirect parametrization."""
    return dict(getattr(request, "param", {}))


@pytest.fixture
def jp_server_config(request, lab_options, monkeypatch):
    """The Jupyter server with the extension: the service and a student's token unless a test says otherwise.

    ``service_url``/``api_token`` given as None in ``lab_options`` mean: leave unset.
    """
    monkeypatch.delenv("NPUHUB_URL", raising=False)
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN", raising=False)
    monkeypatch.delenv("JUPYTERHUB_SERVER_NAME", raising=False)
    settings = {**DEFAULTS, **lab_options}
    if "service_url" not in settings or "api_token" not in settings:
        svc = request.getfixturevalue("lab_service")
        settings.setdefault("service_url", f"{svc.url}{PREFIX}")
        settings.setdefault("api_token", npuhub_token(svc.hub, "student1"))
    settings = {k: v for k, v in settings.items() if v is not None}
    return {"ServerApp": {"jpserver_extensions": {"npuhub_lab": True}}, "NPUHubLab": settings}


@pytest.fixture
def run(jp_asyncio_loop):
    """Run a coroutine on the Jupyter server's loop."""
    return jp_asyncio_loop.run_until_complete


def status_of(response) -> dict:
    assert response.code == 200, response.body
    return json.loads(response.body)


def upstream_reads(svc: LabService, settle: float = 0.5) -> dict[str, int]:
    """What the service has answered of the three reads of a status.

    The service logs a request just after sending its answer, so this waits
    until each read has shown up at least once, then a little more for any
    later one to be logged too.
    """
    deadline = time.monotonic() + 10
    while True:
        counts = {path: svc.reads(path) for path in ("me", "pool", "reservations")}
        if all(counts.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    time.sleep(settle)
    return {path: svc.reads(path) for path in counts}
