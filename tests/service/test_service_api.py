"""The npuhub service through the real hub's proxy: grants, the queue, refusals people can act on, budgets.

Each test starts its own service process (a fresh SQLite database) behind one
real JupyterHub; people call it with their own hub tokens.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.integration


def metric(client, name: str, **labels) -> float:
    r = client.http.get(client.base.rsplit("/api/v1", 1)[0] + "/metrics", timeout=30)
    assert r.status_code == 200, r.text
    total = 0.0
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout}s: {predicate}")
        time.sleep(interval)


def test_grant_queue_release_with_positions_and_messages(start_service):
    svc = start_service()
    students = [svc.client(f"student{i}") for i in range(1, 10)]

    # Eight quarter slices: the first eight students are granted at once.
    for s in students[:8]:
        r = s.post("/requests", {"flavor": "npu-quarter"})
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["state"] == "granted" and body["grant"]["model"] == "Ascend 910B"
        assert "Granted ¼ Ascend 910B" in body["message"]["en"] and "已分配" in body["message"]["zh"]

    # The ninth waits, first in line, with an estimate and a sentence to show on the spawn page.
    r = students[8].post("/requests", {"flavor": "npu-quarter"})
    assert r.status_code == 202, r.text
    waiting = r.json()
    assert waiting["state"] == "waiting" and waiting["position"] == 1
    assert waiting["eta"].endswith("Z") and waiting["eta_seconds"] > 0
    assert "1st in line" in waiting["message"]["en"] and "排在第 1 位" in waiting["message"]["zh"]

    # A second slice for someone who holds her limit: refused, saying what she holds.
    r = students[0].post("/requests", {"flavor": "npu-quarter"})
    assert r.status_code == 409 and r.json()["reason"] == "share_limit"
    assert "You may hold at most 1/4 device(s) at once; you hold 1/4" in r.json()["error"]

    # The queue shows her place; others see the entry without her name.
    queue = students[8].get("/queue").json()
    assert queue["length"] == 1 and queue["queue"][0]["mine"] and queue["queue"][0]["user"] == "student9"
    assert students[1].get("/queue").json()["queue"][0]["user"] is None

    pool = students[1].get("/pool").json()
    assert pool["models"][0]["free"] == "0" and pool["models"][0]["waiting"] == 1

    # Student 1 stops: her slice goes to the one waiting, and the ending is idempotent.
    first = students[0].get("/me").json()["holdings"][0]
    # No server runs for it at the hub (this test's requests have none): the service asks the hub, which says so,
    # and ends it at once without charging it; a running server would be stopped first (202).
    r = students[0].delete(f"/requests/{first['id']}")
    assert r.status_code == 200 and r.json()["state"] == "released" and r.json()["reason"] == "server_gone"
    assert students[0].delete(f"/requests/{first['id']}").json()["state"] == "released"
    now_granted = students[8].get(f"/requests/{waiting['id']}").json()
    assert now_granted["state"] == "granted" and now_granted["position"] is None

    # Someone else may neither see nor end her request.
    assert students[1].get(f"/requests/{waiting['id']}").status_code == 403
    assert students[1].delete(f"/requests/{waiting['id']}").status_code == 403

    # Finished requests are history: listed from the database.
    mine = students[0].get("/requests", params={"state": "released"}).json()["requests"]
    assert [r["id"] for r in mine] == [first["id"]]
    assert mine[0]["charged"]["device_hours"] == 0  # no server ever used it


def test_idempotent_retry_returns_the_same_request(start_service):
    svc = start_service()
    s1 = svc.client("student1")
    rid = str(uuid.uuid4())
    first = s1.post("/requests", {"flavor": "npu-quarter", "id": rid})
    again = s1.post("/requests", {"flavor": "npu-quarter", "id": rid})
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == rid and again.json()["grant"] == first.json()["grant"]
    assert s1.get("/pool").json()["models"][0]["held"] == "1/4"
    # the same id from someone else is a conflict, not her request
    assert svc.client("student2").post("/requests", {"flavor": "npu-quarter", "id": rid}).status_code == 409
    s1.delete(f"/requests/{rid}")
    # a retry after the end returns the ended request rather than starting a new one
    late = s1.post("/requests", {"flavor": "npu-quarter", "id": rid})
    assert late.status_code == 200 and late.json()["state"] == "released"


def test_refusals_say_what_to_do(start_service):
    svc = start_service()
    s1 = svc.client("student1")
    r = s1.post("/requests", {"flavor": "npu-99"})
    assert r.status_code == 400 and r.json()["reason"] == "flavor_unknown"
    assert "There is no flavor called 'npu-99'" in r.json()["error"] and "没有名为" in r.json()["error"]
    r = s1.post("/requests", {"flavor": "npu-1"})
    assert r.status_code == 403 and r.json()["reason"] == "flavor_not_allowed"
    assert "Flavors you may use: cpu, npu-quarter" in r.json()["error"]
    r = s1.post("/requests", {"flavor": "npu-quarter", "surprise": 1})
    assert r.status_code == 400 and r.json()["reason"] == "body_invalid" and "surprise" in r.json()["error"]
    r = s1("POST", "/requests", data=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["reason"] == "body_invalid"
    # only operators act for others
    r = s1.post("/requests", {"flavor": "npu-quarter", "user": "student2"})
    assert r.status_code == 403 and r.json()["reason"] == "permission_denied"
    assert svc.client(None).post("/requests", {"flavor": "npu-quarter"}).status_code == 401
    assert s1.get("/nothing-here").status_code == 404 and s1.get("/nothing-here").json()["reason"] == "not_found"
    assert s1("PATCH", "/requests").json()["reason"] == "method_not_allowed"

    admin = svc.client("admin")
    refused = metric(admin, "npuhub_admission_decisions_total", outcome="refused", reason="flavor_unknown")
    assert refused == 1


def test_spent_budget_refuses_with_retry_time_and_the_ledger_says_who_and_why(start_service):
    svc = start_service()
    s3, admin = svc.client("student3"), svc.client("admin")
    # first use opens her daily budget of 1 device-hour
    assert s3.post("/requests", {"flavor": "cpu"}).status_code == 201
    account = s3.get("/accounts/user:student3").json()
    assert account["balance"]["exact"] == "1" and account["period"] == "day"

    r = admin.post("/accounts/user:student3/adjustments", {"device_hours": "-1", "reason": "tests: spend it all"})
    assert r.status_code == 201, r.text
    entry = r.json()
    assert entry["actor"] == "admin" and entry["reason"] == "tests: spend it all" and entry["after"]["exact"] == "0"

    r = s3.post("/requests", {"flavor": "npu-quarter"})
    assert r.status_code == 429 and r.json()["reason"] == "quota_spent"
    body = r.json()
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).date().isoformat()
    assert body["retry_at"].startswith(tomorrow) and body["account"] == "user:student3"
    assert "Your device-hour budget is spent" in body["error"] and "It renews at" in body["error"]
    assert int(r.headers["Retry-After"]) > 0

    # she sees her ledger; another student does not; an admin sees everything
    kinds = [e["kind"] for e in s3.get("/ledger").json()["entries"]]
    assert kinds[:2] == ["adjust", "grant"]
    assert svc.client("student4").get("/ledger", params={"account": "user:student3"}).status_code == 403
    assert any(e["account"] == "user:student3" for e in admin.get("/ledger").json()["entries"])
    # only operators adjust
    assert s3.post("/accounts/user:student3/adjustments", {"device_hours": "5", "reason": "please"}).status_code == 403


def test_running_session_over_budget_is_warned_then_stopped(start_service):
    svc = start_service(grace=1.5)
    s5, admin = svc.client("student5"), svc.client("admin")
    granted = s5.post("/requests", {"flavor": "npu-quarter"}).json()
    admin.post("/accounts/user:student5/adjustments", {"device_hours": "-1", "reason": "tests: run out"})

    def warned():
        running = s5.get("/requests", params={"state": "granted"}).json()["requests"]
        return running and running[0]["over_budget"] and running[0]["warnings"]

    warning = wait_for(warned, timeout=5)[0]
    assert warning["reason"] == "budget_spent" and "will be stopped" in warning["message"]["en"]
    ended = wait_for(lambda: (r := s5.get(f"/requests/{granted['id']}").json())["state"] == "released" and r,
                     timeout=8)
    assert ended["reason"] == "budget_spent"
    assert metric(admin, "npuhub_budget_stops_total") == 1


def test_teacher_reserves_slices_for_her_course(start_service):
    svc = start_service()
    teacher, other_teacher = svc.client("teacher1"), svc.client("teacher2")
    now = dt.datetime.now(dt.UTC)
    window = {"group": "course-demo", "flavor": "npu-quarter", "count": 6,
              "starts": now.isoformat(), "ends": (now + dt.timedelta(hours=2)).isoformat()}
    assert other_teacher.post("/reservations", window).status_code == 403
    r = teacher.post("/reservations", window)
    assert r.status_code == 201, r.text
    res = r.json()
    assert res["held"] == 6 and res["active"]

    # six of eight slices are held for the course: a lab member gets one of the two others, then waits
    lab = svc.client("labmember1")
    assert lab.post("/requests", {"flavor": "npu-half"}).status_code == 201
    assert lab.post("/requests", {"flavor": "npu-quarter"}).status_code == 202
    # the course's students take the reserved slices
    r = svc.client("student7").post("/requests", {"flavor": "npu-quarter"})
    assert r.status_code == 201 and r.json()["reservation"] == res["id"]
    assert svc.client("student8").get("/reservations").json()["reservations"][0]["in_use"] == 1
    assert svc.client("aistudent1").get("/reservations").json()["reservations"] == []

    assert other_teacher.delete(f"/reservations/{res['id']}").status_code == 403
    assert teacher.delete(f"/reservations/{res['id']}").status_code == 204
    # the held slices are free again: the lab member's waiting request is granted
    waiting = lab.get("/requests", params={"state": "granted"}).json()["requests"]
    assert sorted(r["flavor"] for r in waiting) == ["npu-half", "npu-quarter"]


def test_openapi_document_and_metrics(start_service):
    svc = start_service()
    doc = svc.client(None).get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1") and doc["servers"] == [{"url": "/services/npuhub/api/v1"}]
    assert {"/requests", "/requests/{id}", "/queue", "/pool", "/me", "/ledger", "/reservations"} <= set(doc["paths"])
    s1, admin = svc.client("student1"), svc.client("admin")
    s1.post("/requests", {"flavor": "npu-quarter"})
    assert metric(admin, "npuhub_admission_decisions_total", outcome="granted") == 1
    assert metric(admin, "npuhub_slices_held_devices", model="Ascend 910B") == 0.25
    assert metric(admin, "npuhub_slices_free_devices", model="Ascend 910B") == 1.75
    assert metric(admin, "npuhub_store_available") == 1
    wait_for(lambda: metric(admin, "npuhub_quota_burn_device_seconds_total", flavor="npu-quarter") > 0, timeout=5)
    # metrics need read:metrics (admins) or operate
    r = s1.http.get(s1.base.rsplit("/api/v1", 1)[0] + "/metrics", timeout=30)
    assert r.status_code == 403
