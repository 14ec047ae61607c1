"""Fixtures of the lab extension's server-part tests: a real Jupyter server with it, a real service.

The Jupyter server is pytest-jupyter's (``jp_serverapp``, ``jp_fetch``). It runs
on pytest-jupyter's own event loop, so the tests are plain functions that drive
it with ``run(...)``. The npuhub service is the real one of the service tests,
behind the real hub; the server part gets a real hub token of a person, made
through the hub's REST API with only the scopes it is meant to have.
``npuhub_lab`` is imported from extensions/npuhub-lab (on ``pythonpath``), not an installed copy.
"""

from __future__ import annotations

import pytest
from pytest_jupyter.jupyter_server import *  # noqa: F403 (jp_serverapp, jp_fetch, ...)

from support.lab_stack import DEFAULTS, LabService, npuhub_token
from support.service_stack import PREFIX, service_hub  # noqa: F401 (a fixture)


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


