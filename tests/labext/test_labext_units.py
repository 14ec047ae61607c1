"""The server part's settings and the spawner's wiring for it, without a hub or a service."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from jupyterhub.scopes import scope_definitions
from npuhub_lab.config import NPUHubLab
from npuhub_lab.upstream import REQUEST_ID_PATTERN as LAB_REQUEST_ID_PATTERN
from npuhub_lab.upstream import Status, etag_of
from traitlets import TraitError

from npuhub.auth.groups import CUSTOM_SCOPES
from npuhub.service.openapi import REQUEST_ID_PATTERN
from npuhub.spawners.local import LocalNPUSpawner
from npuhub.spawners.mixin import SERVER_NPUHUB_SCOPES


def test_request_ids_are_checked_as_the_service_checks_them():
    assert LAB_REQUEST_ID_PATTERN == REQUEST_ID_PATTERN


def test_settings_come_from_the_environment_the_spawner_gives(monkeypatch):
    monkeypatch.setenv("NPUHUB_URL", "http://npuhub.example:8090/services/npuhub")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "server-token")
    monkeypatch.setenv("JUPYTERHUB_SERVER_NAME", "gpu")
    lab = NPUHubLab()
    assert lab.service_url == "http://npuhub.example:8090/services/npuhub/"
    assert lab.api_token == "server-token" and lab.server_name == "gpu"
    assert (lab.poll_interval, lab.cache_seconds, lab.request_timeout) == (15, 7.5, 5.0)
    assert NPUHubLab(poll_interval=60).cache_seconds == 30
    with pytest.raises(TraitError):
        NPUHubLab(poll_interval=2)  # tabs polling every 2 s would be the hub's load, not ours to set


def test_the_etag_ignores_when_it_was_fetched():
    body = {"available": True, "me": {"user": "student1"}}
    a = Status(body, etag_of(body), "2026-05-04T09:00:00.000Z")
    b = Status(body, etag_of(body), "2026-05-04T09:00:07.500Z")
    assert a.etag == b.etag and a.document() != b.document()
    assert etag_of({**body, "available": False}) != a.etag


class Owner:
    """The parts of a hub User the spawner reads."""

    def __init__(self):
        self.name = "someone"
        self.url = "/user/someone/"
        self.groups = [SimpleNamespace(name="course-demo")]

    async def get_auth_state(self):
        return None


def spawner(**traits) -> LocalNPUSpawner:
    return LocalNPUSpawner(user=Owner(), hub=SimpleNamespace(), **traits)


def test_servers_learn_where_the_service_is():
    api = "http://127.0.0.1:8090/services/npuhub/api/v1"
    assert spawner(admission_url=api).npuhub_env()["NPUHUB_URL"] == "http://127.0.0.1:8090/services/npuhub/"
    assert spawner(admission_url=api + "/").npuhub_service_url() == "http://127.0.0.1:8090/services/npuhub/"
    other = spawner(admission_url=api,
                    service_url_for_servers="http://npuhub.npuhub.svc:8090/services/npuhub")
    assert other.npuhub_env()["NPUHUB_URL"] == "http://npuhub.npuhub.svc:8090/services/npuhub/"
    assert "NPUHUB_URL" not in spawner().npuhub_env()  # no service: the extension says "not configured"


def test_server_tokens_ask_for_the_npuhub_scopes_and_keep_the_hubs_own(monkeypatch):
    asked = spawner().server_token_scopes
    assert callable(asked)  # JupyterHub calls it at each start
    # a hub without npuhub's custom scopes would fail the start over an unknown scope: not asked
    assert asked(spawner()) == ["access:servers!server", "users:activity!user"]
    for name, definition in CUSTOM_SCOPES.items():  # as c.JupyterHub.custom_scopes registers them
        monkeypatch.setitem(scope_definitions, name, definition)
    scopes = asked(spawner())
    assert set(SERVER_NPUHUB_SCOPES) == {"custom:npuhub:use", "custom:npuhub:teach"} <= set(scopes)
    assert {"users:activity!user", "access:servers!server"} <= set(scopes)
    assert "custom:npuhub:operate" not in scopes
    # an operator's own choice wins
    assert spawner(server_token_scopes=["users:activity!user"]).server_token_scopes == ["users:activity!user"]
