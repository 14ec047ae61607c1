"""The server part's settings and the spawner's wiring for it, without a hub or a service."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from jupyterhub.scopes import scope_definitions
from npuhub_lab.config import NPUHubLab
from npuhub_lab.upstream import REQUEST_ID_PATTERN as LAB_REQUEST_ID_PATTERN
from npuhub_lab.upstream import Status, etag_of
from traitlets import TraitError

from npuhub.groups import CUSTOM_SCOPES
from npuhub.service.openapi import REQUEST_ID_PATTERN
from npuhub.spawners.local import LocalNPUSpawner
from npuhub.sharing import SERVER_SHARING_SCOPES
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
    assert asked(spawner()) == sorted(["access:servers!server", "users:activity!user", *SERVER_SHARING_SCOPES])
    for name, definition in CUSTOM_SCOPES.items():  # as c.JupyterHub.custom_scopes registers them
        monkeypatch.setitem(scope_definitions, name, definition)
    scopes = asked(spawner())
    assert set(SERVER_NPUHUB_SCOPES) == {"custom:npuhub:use", "custom:npuhub:teach"} <= set(scopes)
    assert {"users:activity!user", "access:servers!server"} <= set(scopes)
    assert "custom:npuhub:operate" not in scopes
    # an operator's own choice wins
    assert spawner(server_token_scopes=["users:activity!user"]).server_token_scopes == ["users:activity!user"]


# -- the service's answers as the server part relays them (issues 9 and 10) ---------------------------------
import asyncio  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

from npuhub_lab.upstream import ServiceClient, UpstreamError  # noqa: E402
from support.scripted_http import Answer, ScriptedServer  # noqa: E402

#: One body that serves as /me, /pool and /reservations alike: the server part only relays them.
ANY_READ = {"user": "student1", "models": [], "reservations": []}


def lab_client_of(url: str, restart_wait: float = 30.0) -> ServiceClient:
    settings = NPUHubLab(service_url=f"{url}/services/npuhub/", api_token="server-token", cache_seconds=0,
                         restart_wait=restart_wait)
    return ServiceClient(settings, version="test")


def test_the_proxys_page_while_the_service_restarts_says_so_and_the_next_poll_recovers():
    async def polls(url):
        client = lab_client_of(url)
        return await client.status(), await client.status()

    # the three reads of the first poll meet the hub's page, the next poll the service
    script = [Answer.hub_page(503), Answer.hub_page(502), Answer.hub_page(504), Answer.json(200, ANY_READ)]
    with ScriptedServer(*script) as server:
        first, second = asyncio.run(polls(server.url))
    error = first.body["error"]
    assert first.body["available"] is False and error["reason"] == "service_restarting"
    assert error["message"] == {"zh": "npuhub 服务正在重启，请稍候…", "en": "The npuhub service is restarting; trying again…"}
    assert error["error"] == "npuhub 服务正在重启，请稍候… / The npuhub service is restarting; trying again…"
    assert "html" not in json.dumps(first.body).lower()
    assert second.body["available"] is True and second.body["me"]["user"] == "student1"


def test_a_restarting_status_is_not_kept_for_the_whole_cache_period():
    clock = [1000.0]
    with ScriptedServer(Answer.hub_page(503), Answer.hub_page(503), Answer.hub_page(503),
                        Answer.json(200, ANY_READ)) as server:
        settings = NPUHubLab(service_url=f"{server.url}/services/npuhub/", api_token="t", cache_seconds=30)
        client = ServiceClient(settings, version="test", clock=lambda: clock[0])

        async def polls():
            first = await client.status()
            clock[0] += 3  # the front end asks again soon while the service restarts
            return first, await client.status()

        first, second = asyncio.run(polls())
    assert first.body["available"] is False and second.body["available"] is True


def test_the_services_own_errors_are_relayed_in_both_forms():
    new = {"error": "没有这个请求。 / There is no request r-1.", "reason": "not_found",
           "message": {"zh": "没有这个请求。", "en": "There is no request r-1."}}
    old = {"error": "没有这个请求。 / There is no request r-1.", "reason": "not_found"}
    for body in (new, old):
        with ScriptedServer(Answer.json(404, body)) as server:
            code, relayed = asyncio.run(lab_client_of(server.url).cancel("r-1"))
        assert code == 404 and relayed == body
    # a cancel while the service restarts, for longer than it waits: the sentence, not the proxy's page
    with ScriptedServer(Answer.hub_page(503)) as server:
        with pytest.raises(UpstreamError) as failed:
            asyncio.run(lab_client_of(server.url, restart_wait=0).cancel("r-1"))
    assert failed.value.status == 503 and failed.value.body()["reason"] == "service_restarting"
    assert failed.value.body()["message"]["en"] == "The npuhub service is restarting; trying again…"
    # the service's own 503 (its database is down) is its own sentence, in both languages
    own = {"error": "数据库不可用 / The database is down", "reason": "store_unavailable",
           "message": {"zh": "数据库不可用", "en": "The database is down"}}
    with ScriptedServer(Answer.json(503, own)) as server:
        status = asyncio.run(lab_client_of(server.url).status())
    assert status.body["error"] == own


def test_a_cancel_during_a_restart_is_sent_again_until_the_service_is_back():
    cancelled = {"id": "r-1", "state": "cancelled"}
    with ScriptedServer(Answer.hub_page(503), Answer.hub_page(502), Answer.json(200, cancelled)) as server:
        started = time.monotonic()
        assert asyncio.run(lab_client_of(server.url).cancel("r-1")) == (200, cancelled)
    assert server.asked == [("DELETE", "/services/npuhub/api/v1/requests/r-1")] * 3
    assert time.monotonic() - started < 5
    with ScriptedServer(Answer.hub_page(503)) as server:
        started = time.monotonic()
        with pytest.raises(UpstreamError) as failed:
            asyncio.run(lab_client_of(server.url, restart_wait=1).cancel("r-1"))
    assert failed.value.reason == "service_restarting" and 2 <= len(server.asked) <= 3
    assert time.monotonic() - started < 3


# -- the hub's refusals of a share, as sentences (the ones a real hub gives are in test_labext_shares.py) -----
from npuhub_lab.sharing import ShareClient  # noqa: E402


def share_client_of(url: str) -> ShareClient:
    settings = NPUHubLab(service_url="", hub_api_url=f"{url}/hub/api", user="student1", api_token="server-token")
    return ShareClient(settings)


@pytest.mark.parametrize("answer, status, reason, words", [
    (Answer.json(404, {"status": 404, "message": "No such server: student1/"}), 404, "share_server_unknown",
     "does not know this server (student1/default)"),
    (Answer.json(500, {"status": 500, "message": "Unhandled error"}), 502, "hub_error", "(HTTP 500): Unhandled error"),
    (Answer.hub_page(503), 502, "hub_error", "(HTTP 503): -"),
    (Answer.json(400, {"status": 400, "message": "1 validation error"}), 400, "hub_error", "1 validation error"),
])
def test_what_else_the_hub_answers_is_a_sentence_with_its_status(answer, status, reason, words):
    with ScriptedServer(answer) as server:
        with pytest.raises(UpstreamError) as failed:
            asyncio.run(share_client_of(server.url).grant("user", "student2"))
    assert server.asked == [("POST", "/hub/api/shares/student1/")]
    body = failed.value.body()
    assert (failed.value.status, body["reason"]) == (status, reason)
    assert words in body["message"]["en"] and body["message"]["zh"], body
