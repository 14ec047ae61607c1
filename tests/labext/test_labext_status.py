"""The lab extension's server part in a real Jupyter server, against the real service behind a real hub.

What a person sees in JupyterLab comes from ``npuhub-lab/status``: her slice,
her budget, her place in the queue; or, when something is wrong, one sentence
saying what and what to do. The browser never sees a hub token, and however
many tabs poll, the service is asked once per cache period.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import socket
import time

import npuhub_lab
import pytest
from npuhub_lab.upstream import OPTIONAL_READS

from support.lab_stack import npuhub_token, status_of, upstream_reads
from support.service_stack import PREFIX

pytestmark = pytest.mark.integration

STATUS = ("npuhub-lab", "status")


def lab_client(serverapp):
    """The server part's one client of the service (to point it elsewhere mid-test, as a restart would)."""
    return serverapp.web_app.settings["npuhub_lab_client"]


def poll(run, jp_fetch, **kwargs):
    return run(jp_fetch(*STATUS, raise_error=False, **kwargs))


def cancel(run, jp_fetch, request_id: str):
    r = run(jp_fetch("npuhub-lab", "requests", request_id, method="DELETE", raise_error=False))
    return r.code, json.loads(r.body)


def test_a_student_holding_nothing_sees_her_budget_and_the_pool(run, jp_fetch, jp_serverapp, lab_service):
    r = poll(run, jp_fetch)
    status = status_of(r)
    assert status["server_part"] == {"version": npuhub_lab.__version__, "api": 1}
    assert status["interval"] == 15 and status["server_name"] == ""
    assert status["available"] is True and status["error"] is None
    me = status["me"]
    assert me["user"] == "student1" and me["groups"] == ["course-demo"]
    assert me["holdings"] == [] and me["waiting"] == [] and me["held_share"] == "0"
    assert [(a["name"], a["balance"]["device_hours"]) for a in me["accounts"]] == [("user:student1", 1.0)]
    assert [m["free"] for m in status["pool"]["models"]] == ["2"]
    assert status["reservations"] == []
    fetched = dt.datetime.fromisoformat(status["fetched_at"])
    assert abs((dt.datetime.now(dt.UTC) - fetched).total_seconds()) < 60
    # the browser never gets the server's hub token (in this answer; every answer, cookie and storage the
    # page sees is searched in tests/browser/test_browser_lab_secrets.py)
    assert lab_client(jp_serverapp).settings.api_token not in r.body.decode()
    # polling is not activity: the server would never look idle to the hub (and idle reclaim never happen)
    assert "api_last_activity" not in jp_serverapp.web_app.settings or \
        jp_serverapp.web_app.settings["api_last_activity"] < dt.datetime.fromisoformat(status["fetched_at"])

    # Nothing changed: a strong ETag, and 304 without a body for the same one
    etag = r.headers["Etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    again = poll(run, jp_fetch, headers={"If-None-Match": etag})
    assert again.code == 304 and again.body == b""
    assert poll(run, jp_fetch, headers={"If-None-Match": '"something-else"'}).code == 200

    # Someone without any budget (staff here): no accounts, and every flavor of her groups
    lab_client(jp_serverapp).settings.api_token = npuhub_token(lab_service.hub, "admin")
    me = status_of(poll(run, jp_fetch))["me"]
    assert me["user"] == "admin" and me["accounts"] == []
    assert "npu-1" in {f["id"] for f in me["flavors"]}


def test_a_holding_a_queued_request_and_cancelling_it(run, jp_fetch, lab_service):
    svc = lab_service
    # As the spawner asks (its operator token, on her behalf): student1's server holds a quarter.
    r = svc.client("admin").post("/requests", {"user": "student1", "flavor": "npu-quarter", "id": "s1-lab"})
    assert r.status_code == 201, r.text
    status = status_of(poll(run, jp_fetch))
    me = status["me"]
    assert me["held_share"] == "1/4" and [h["id"] for h in me["holdings"]] == ["s1-lab"]
    holding = me["holdings"][0]
    assert holding["grant"]["model"] == "Ascend 910B" and "Granted ¼ Ascend 910B" in holding["message"]["en"]
    assert status["pool"]["models"][0]["held"] == "1/4"

    # Ending a running session through the extension gives the slice back
    code, body = cancel(run, jp_fetch, "s1-lab")
    assert code == 200 and body["state"] == "released"
    assert status_of(poll(run, jp_fetch))["me"]["holdings"] == []

    # The lab takes both devices; her next request (a named server) waits, first in line.
    for n in range(2):
        r = svc.client("labmember1").post("/requests", {"flavor": "npu-1", "id": f"lab-{n}"})
        assert r.status_code == 201, r.text
    r = svc.client("admin").post("/requests", {"user": "student1", "flavor": "npu-quarter", "id": "s1-waits",
                                               "server": "gpu"})
    assert r.status_code == 202, r.text
    me = status_of(poll(run, jp_fetch))["me"]
    assert [(w["id"], w["position"], w["server"]) for w in me["waiting"]] == [("s1-waits", 1, "gpu")]
    assert "1st in line" in me["waiting"][0]["message"]["en"] and "排在第 1 位" in me["waiting"][0]["message"]["zh"]

    # Cancelling through the extension: the service's answer, and the next poll shows it at once
    code, body = cancel(run, jp_fetch, "s1-waits")
    assert code == 200 and body["state"] == "cancelled" and body["id"] == "s1-waits"
    assert status_of(poll(run, jp_fetch))["me"]["waiting"] == []
    assert svc.client("student1").get("/requests/s1-waits").json()["state"] == "cancelled"

    # Ids the service could not have made are refused here; the service's refusals come back as they are
    for bad in ("-starts-with-dash", "a" * 65, "has space"):
        code, body = cancel(run, jp_fetch, bad)
        assert code == 400 and body["reason"] == "request_id_invalid", body
        assert "not a valid request id" in body["error"]
    code, body = cancel(run, jp_fetch, "no-such-request")
    assert code == 404 and body["reason"] == "request_unknown"
    code, body = cancel(run, jp_fetch, "lab-0")  # someone else's
    assert code == 403 and body["reason"] == "permission_denied" and " / " in body["error"]
    assert svc.client("labmember1").get("/requests/lab-0").json()["state"] == "granted"


@pytest.mark.parametrize("lab_options", [{"cache_seconds": 60}], indirect=True)
def test_many_tabs_one_fetch(run, jp_fetch, jp_serverapp, lab_service):
    polls = run(asyncio.gather(*(jp_fetch(*STATUS) for _ in range(8))))
    assert len({p.body for p in polls}) == 1 and len({p.headers["Etag"] for p in polls}) == 1
    for _ in range(3):
        status_of(poll(run, jp_fetch))
    assert upstream_reads(lab_service) == {"me": 1, "pool": 1, "reservations": 1}  # counted by the service
    # and the two reads the status does without (announcements, Dask clusters), once each too
    assert lab_client(jp_serverapp).requests_sent == 3 + len(OPTIONAL_READS)


def test_service_down_then_back(run, jp_fetch, jp_serverapp, lab_service):
    assert status_of(poll(run, jp_fetch))["available"] is True
    lab_service.stop()
    client = lab_client(jp_serverapp)
    # straight to its port (the embedded stack): nothing answers
    client.settings.service_url = f"{lab_service.url}{PREFIX}"
    status = status_of(poll(run, jp_fetch))
    assert status["available"] is False and status["me"] is None
    assert status["error"]["reason"] == "service_unreachable", status["error"]
    assert "cannot be reached right now" in status["error"]["message"]["en"] and "连不上" in status["error"]["error"]
    code, body = cancel(run, jp_fetch, "any-request")
    assert code == 503 and body["reason"] == "service_unreachable"
    # through the hub's proxy, which answers with its HTML page as while the hub restarts the service
    client.settings.service_url = f"{lab_service.hub.base_url}{PREFIX}"
    client.settings.restart_wait = 1  # how long a cancel is sent again; this service does not come back
    status = status_of(poll(run, jp_fetch))
    assert status["available"] is False and status["me"] is None
    assert status["error"]["message"] == {"zh": "npuhub 服务正在重启，请稍候…",
                                          "en": "The npuhub service is restarting; trying again…"}
    code, body = cancel(run, jp_fetch, "any-request")
    assert code == 503 and body["reason"] == "service_restarting"
    lab_service.start()
    assert status_of(poll(run, jp_fetch))["available"] is True


def test_a_token_without_the_npuhub_scope_is_named(run, jp_fetch, jp_serverapp, lab_service):
    client = lab_client(jp_serverapp)
    # JupyterHub's default server token (no Spawner.server_token_scopes): activity only
    client.settings.api_token = npuhub_token(lab_service.hub, "student2", scopes=("users:activity!user",))
    for token in (client.settings.api_token, "not-a-token-the-hub-knows"):
        client.settings.api_token = token
        status = status_of(poll(run, jp_fetch))
        assert status["available"] is False and status["error"]["reason"] == "token_refused"
        assert "lacks the npuhub scope (custom:npuhub:use)" in status["error"]["error"]
        assert "Restart your server" in status["error"]["error"] and "重启服务器" in status["error"]["error"]


@pytest.mark.parametrize("lab_options", [{"service_url": None, "api_token": "some-token"}], indirect=True)
def test_no_service_url_is_not_configured(run, jp_fetch):
    status = status_of(poll(run, jp_fetch))
    assert status["available"] is False and status["error"]["reason"] == "not_configured"
    assert "NPUHUB_URL" in status["error"]["error"]
    assert status["me"] is None and status["pool"] is None and status["reservations"] is None
    code, body = cancel(run, jp_fetch, "some-request")
    assert code == 503 and body["reason"] == "not_configured"


@pytest.fixture
def silent_port():
    """A port that accepts connections and never answers (a hung service)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]


@pytest.mark.parametrize("lab_options", [{"request_timeout": 1.0, "service_url": None, "api_token": "t"}],
                         indirect=True)
def test_a_hung_service_times_out_once_for_the_three_reads(run, jp_fetch, jp_serverapp, silent_port):
    lab_client(jp_serverapp).settings.service_url = f"http://127.0.0.1:{silent_port}{PREFIX}"
    started = time.monotonic()
    status = status_of(poll(run, jp_fetch))
    elapsed = time.monotonic() - started
    assert status["available"] is False and status["error"]["reason"] == "service_unreachable"
    assert 0.9 < elapsed < 2.5  # the three reads wait side by side, not one after the other


@pytest.mark.parametrize("lab_options", [{"service_url": None, "api_token": "t"}], indirect=True)
def test_only_signed_in_people_get_an_answer(run, jp_fetch):
    r = run(jp_fetch(*STATUS, headers={"Authorization": "token wrong"}, raise_error=False))
    assert r.code == 403 and json.loads(r.body)["reason"] == "not_signed_in"
    r = run(jp_fetch("npuhub-lab", "requests", "x1", method="DELETE",
                     headers={"Authorization": "token wrong"}, raise_error=False))
    assert r.code == 403 and "traceback" not in r.body.decode().lower()
