"""Who may do what, over every endpoint: anonymous, another student, the same student, the group's teacher,
another group's teacher, and an admin, each with a real hub token (or none).

student1 and student2 are in course-demo, taught by teacher1; teacher2 teaches
course-ai; admin operates npuhub. labmember1 fills the pool so student1's
request waits in the queue. Each row lists what every caller observes.
"""

from __future__ import annotations

import datetime as dt

import pytest
from support.service_stack import ServiceProcess

pytestmark = pytest.mark.integration

CALLERS = ["anonymous", "student2", "student1", "teacher1", "teacher2", "admin"]


@pytest.fixture(scope="module")
def world(service_hub, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("authz")
    svc = ServiceProcess(service_hub, f"sqlite:///{workdir / 'admission.sqlite'}", workdir).start()
    clients = {name: svc.client(None if name == "anonymous" else name) for name in CALLERS}
    lab = svc.client("labmember1")
    for _ in range(2):
        assert lab.post("/requests", {"flavor": "npu-1"}).status_code == 201
    try:
        yield svc, clients
    finally:
        svc.stop()


def waiting_request(svc) -> str:
    """student1's waiting request (a new one if the last was cancelled)."""
    s1 = svc.client("student1")
    mine = s1.get("/requests", params={"state": "waiting"}).json()["requests"]
    if mine:
        return mine[0]["id"]
    r = s1.post("/requests", {"flavor": "npu-quarter"})
    assert r.status_code == 202, r.text
    return r.json()["id"]


def reservation(svc) -> str:
    now = dt.datetime.now(dt.UTC)
    body = {"group": "course-demo", "flavor": "npu-quarter", "count": 1,
            "starts": (now + dt.timedelta(days=1)).isoformat(), "ends": (now + dt.timedelta(days=2)).isoformat()}
    r = svc.client("teacher1").post("/reservations", body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def tomorrow_window(group: str) -> dict:
    now = dt.datetime.now(dt.UTC)
    return {"group": group, "flavor": "npu-quarter", "count": 1,
            "starts": (now + dt.timedelta(days=1)).isoformat(), "ends": (now + dt.timedelta(days=2)).isoformat()}


def status(r):
    return r.status_code


# Each row: what every caller observes, in CALLERS order.
def row_get_request(svc, c):
    return status(c.get(f"/requests/{waiting_request(svc)}"))


def row_cancel_request(svc, c):
    rid = waiting_request(svc)
    code = status(c.delete(f"/requests/{rid}"))
    still = svc.client("admin").get(f"/requests/{rid}").json()["state"]
    return code, still


def row_list_requests_of_student1(svc, c):
    rid = waiting_request(svc)
    r = c.get("/requests", params={"user": "student1"})
    return status(r), (rid in [x["id"] for x in r.json()["requests"]]) if r.status_code == 200 else None


def row_queue_names(svc, c):
    waiting_request(svc)
    r = c.get("/queue")
    if r.status_code != 200:
        return status(r)
    return [e["user"] for e in r.json()["queue"]]


def row_pool(svc, c):
    return status(c.get("/pool"))


def row_me(svc, c):
    r = c.get("/me")
    return status(r), r.json().get("user")


def row_act_for_student1(svc, c):
    r = c.post("/requests", {"flavor": "cpu", "user": "student1"})
    return status(r), r.json().get("user")


def row_account_of_student1(svc, c):
    return status(c.get("/accounts/user:student1"))


def row_account_of_the_lab(svc, c):
    return status(c.get("/accounts/group:lab-demo"))


def row_ledger_of_student1(svc, c):
    return status(c.get("/ledger", params={"account": "user:student1"}))


def row_whole_ledger_shows_student1(svc, c):
    r = c.get("/ledger")
    if r.status_code != 200:
        return status(r)
    return any(e["account"] == "user:student1" for e in r.json()["entries"])


def row_adjust_student1(svc, c):
    return status(c.post("/accounts/user:student1/adjustments", {"device_hours": "1/2", "reason": "matrix"}))


def row_see_course_reservation(svc, c):
    rid = reservation(svc)
    r = c.get("/reservations")
    seen = r.status_code == 200 and rid in [x["id"] for x in r.json()["reservations"]]
    svc.client("admin").delete(f"/reservations/{rid}")
    return status(r), seen


def row_reserve_for_course(svc, c):
    r = c.post("/reservations", tomorrow_window("course-demo"))
    if r.status_code == 201:
        svc.client("admin").delete(f"/reservations/{r.json()['id']}")
    return status(r)


def row_end_course_reservation(svc, c):
    rid = reservation(svc)
    code = status(c.delete(f"/reservations/{rid}"))
    if code != 204:
        svc.client("admin").delete(f"/reservations/{rid}")
    return code


def row_metrics(svc, c):
    return status(c.http.get(c.base.rsplit("/api/v1", 1)[0] + "/metrics", timeout=30))


def row_openapi(svc, c):
    return status(c.get("/openapi.json"))


MATRIX = {
    #                                anonymous      student2            student1             teacher1             teacher2             admin
    row_get_request:                [401,           403,                200,                 200,                 403,                 200],
    row_cancel_request:             [(401, "waiting"), (403, "waiting"), (200, "cancelled"), (200, "cancelled"), (403, "waiting"), (200, "cancelled")],
    row_list_requests_of_student1:  [(401, None),   (403, None),        (200, True),         (200, True),         (200, False),        (200, True)],
    row_queue_names:                [401,           [None],             ["student1"],        ["student1"],        [None],              ["student1"]],
    row_pool:                       [401,           200,                200,                 200,                 200,                 200],
    row_me:                         [(401, None),   (200, "student2"),  (200, "student1"),   (200, "teacher1"),   (200, "teacher2"),   (200, "admin")],
    row_act_for_student1:           [(401, None),   (403, None),        (201, "student1"),   (403, None),         (403, None),         (201, "student1")],
    row_account_of_student1:        [401,           403,                200,                 403,                 403,                 200],
    row_account_of_the_lab:         [401,           403,                403,                 403,                 403,                 200],
    row_ledger_of_student1:         [401,           403,                200,                 403,                 403,                 200],
    row_whole_ledger_shows_student1: [401,          False,              True,                False,               False,               True],
    row_adjust_student1:            [401,           403,                403,                 403,                 403,                 201],
    row_see_course_reservation:     [(401, False),  (200, True),        (200, True),         (200, True),         (200, False),        (200, True)],
    row_reserve_for_course:         [401,           403,                403,                 201,                 403,                 201],
    row_end_course_reservation:     [401,           403,                403,                 204,                 403,                 204],
    row_metrics:                    [401,           403,                403,                 403,                 403,                 200],
    row_openapi:                    [200,           200,                200,                 200,                 200,                 200],
}


@pytest.mark.parametrize("row", list(MATRIX), ids=lambda f: f.__name__[4:])
def test_authorization_matrix(world, row):
    svc, clients = world
    observed = [row(svc, clients[name]) for name in CALLERS]
    assert dict(zip(CALLERS, observed)) == dict(zip(CALLERS, MATRIX[row]))


def test_a_token_the_hub_does_not_know_is_anonymous(world):
    svc, _ = world
    stranger = svc.client(None)
    stranger.http.headers["Authorization"] = "token not-a-real-token"
    r = stranger.get("/me")
    assert r.status_code == 401 and r.json()["reason"] == "not_signed_in"
