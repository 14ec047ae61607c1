"""A workshop's window at the service: its budget (charged, refused once spent, running sessions stopped) and its end
(servers started on its reservation warned, then stopped).

The hub opens the budget (``POST /window-budgets``) and the reservation when a
teacher makes a workshop; these tests call the service as the hub would, with
the teacher's token, through the real hub's proxy.
"""

from __future__ import annotations

import datetime as dt
import time
from fractions import Fraction

import pytest

pytestmark = pytest.mark.integration


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout}s: {predicate}")
        time.sleep(interval)


def test_the_window_budget_is_charged_then_refuses_and_stops_with_the_services_sentences(start_service):
    svc = start_service(grace=1.5)
    teacher, admin = svc.client("teacher1"), svc.client("admin")
    s1, s2 = svc.client("student1"), svc.client("student2")
    now = dt.datetime.now(dt.UTC)
    body = {"id": "workshop-T1", "group": "course-demo", "device_hours": "2",
            "starts": (now - dt.timedelta(minutes=1)).isoformat(), "ends": (now + dt.timedelta(hours=1)).isoformat()}
    account = "group:course-demo@workshop-T1"

    # only the course's teacher (or an operator) opens it; asking twice gives the same account
    assert svc.client("teacher2").post("/window-budgets", body).status_code == 403
    r = teacher.post("/window-budgets", body)
    assert r.status_code == 201, r.text
    assert r.json()["name"] == account and r.json()["period"] == "window" and r.json()["balance"]["exact"] == "2"
    assert teacher.post("/window-budgets", body).status_code == 200
    assert teacher.get(f"/accounts/{account}").json()["balance"]["exact"] == "2"

    # a member's start in the window draws on it, and on her own budget as before: each once
    granted = s1.post("/requests", {"flavor": "npu-quarter"}).json()
    assert granted["state"] == "granted"
    wait_for(lambda: teacher.get(f"/accounts/{account}").json()["balance"]["exact"] != "2", timeout=6)
    entries = admin.get("/ledger", params={"account": account}).json()["entries"]
    mine = admin.get("/ledger", params={"account": "user:student1"}).json()["entries"]
    s1.delete(f"/requests/{granted['id']}")  # no server behind it: what it was charged is given back to both

    def charged(of):
        return -sum(Fraction(e["amount"]["exact"]) for e in of if e["kind"] == "charge" and e["request"] == granted["id"])

    assert charged(entries) > 0 and charged(entries) == charged(mine)
    assert [e["kind"] for e in entries if e["kind"] != "charge"] == ["grant"]  # granted once, never renewed

    # a running session when it is spent: warned with the workshop's name, then stopped
    running = s2.post("/requests", {"flavor": "npu-quarter"}).json()
    r = admin.post(f"/accounts/{account}/adjustments", {"device_hours": "-2", "reason": "tests: spend it"})
    assert r.status_code == 201, r.text

    def warned():
        mine = s2.get("/requests", params={"state": "granted"}).json()["requests"]
        return mine and mine[0]["warnings"]

    warning = wait_for(warned, timeout=6)[0]
    assert warning["reason"] == "budget_spent"
    assert "Workshop workshop-T1 (course-demo)'s device-hour budget is spent" in warning["message"]["en"]
    assert "工作坊 workshop-T1" in warning["message"]["zh"]
    ended = wait_for(lambda: (r := s2.get(f"/requests/{running['id']}").json())["state"] == "released" and r,
                     timeout=8)
    assert ended["reason"] == "budget_spent"

    # a new start of a member is refused, with no renewal to wait for; her own budget is not what ran out
    r = svc.client("student3").post("/requests", {"flavor": "npu-quarter"})
    assert r.status_code == 429 and r.json()["reason"] == "quota_spent", r.text
    assert r.json()["account"] == account and r.json()["retry_at"] is None
    assert "Workshop workshop-T1 (course-demo)'s device-hour budget is spent" in r.json()["message"]["en"]
    assert "工作坊 workshop-T1" in r.json()["message"]["zh"]
    assert svc.client("student3").get("/accounts/user:student3").json()["spent"] is False
    # another course's student is not the workshop's
    assert svc.client("aistudent1").post("/requests", {"flavor": "npu-quarter"}).status_code == 201


def test_a_window_budget_is_checked(start_service):
    svc = start_service()
    teacher = svc.client("teacher1")
    now = dt.datetime.now(dt.UTC)
    base = {"id": "workshop-T2", "group": "course-demo", "device_hours": "2",
            "starts": now.isoformat(), "ends": (now + dt.timedelta(hours=1)).isoformat()}
    for bad in ({"device_hours": "-1"}, {"ends": (now - dt.timedelta(hours=1)).isoformat()},
                {"id": "../x"}, {"starts": "soon"}):
        r = teacher.post("/window-budgets", {**base, **bad})
        assert r.status_code == 400 and r.json()["reason"] == "body_invalid", (bad, r.text)
        assert r.json()["message"]["zh"] and r.json()["message"]["en"]
    # before the window opens nobody draws on it
    later = {**base, "starts": (now + dt.timedelta(minutes=30)).isoformat()}
    assert teacher.post("/window-budgets", later).status_code == 201
    svc.client("student1").post("/requests", {"flavor": "npu-quarter"})
    assert svc.client("student1").get("/ledger").json()["entries"][0]["account"] == "user:student1"


def test_servers_on_the_reservation_are_warned_then_stopped_when_the_window_ends(start_service):
    svc = start_service(extra_config="c.NPUHubService.window_end_grace = 1.5\n")
    teacher, s1, lab = svc.client("teacher1"), svc.client("student1"), svc.client("labmember1")
    now = dt.datetime.now(dt.UTC)
    r = teacher.post("/reservations", {"group": "course-demo", "flavor": "npu-quarter", "count": 2,
                                       "starts": now.isoformat(), "ends": (now + dt.timedelta(seconds=4)).isoformat()})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    on_it = s1.post("/requests", {"flavor": "npu-quarter"}).json()
    assert on_it["state"] == "granted" and on_it["reservation"] == rid
    elsewhere = lab.post("/requests", {"flavor": "npu-quarter"}).json()
    assert elsewhere["state"] == "granted" and elsewhere["reservation"] is None

    def warned():
        return s1.get(f"/requests/{on_it['id']}").json()["warnings"]

    warning = wait_for(warned, timeout=10)[0]
    assert warning["reason"] == "window_over" and warning["stop_at"]
    assert "The workshop's window is over" in warning["message"]["en"] and "save now" in warning["message"]["en"]
    assert "工作坊的时间段已结束" in warning["message"]["zh"]
    ended = wait_for(lambda: (r := s1.get(f"/requests/{on_it['id']}").json())["state"] == "released" and r,
                     timeout=8)
    assert ended["reason"] == "window_over"
    assert "started for it was stopped" in ended["message"]["en"] and "已停止" in ended["message"]["zh"]
    # a server not started on the reservation is none of the window's business
    still = lab.get(f"/requests/{elsewhere['id']}").json()
    assert still["state"] == "granted" and still["warnings"] == []
