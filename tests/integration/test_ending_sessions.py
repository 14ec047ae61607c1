"""Ending a running session, every way a person can: the slice is freed only once its server has stopped.

Before, a student (or her teacher, or her lab extension) could DELETE a
*granted* request at the service: the slice was freed and granted again
while the first server kept running with the device in its environment (a
device at 5/4). Now the service stops the server through the hub first, and
after every path the pool's count agrees with the servers that run.
"""

from __future__ import annotations

import time
from fractions import Fraction

import pytest
import requests

from support.sites import make_site
from support.stacks import EmbeddedStack, pid_alive, process_env

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = EmbeddedStack(tmp_path_factory.mktemp("ending"), make_site()).start()
    yield stack
    stack.stop()


def service(stack, user: str) -> requests.Session:
    token = stack.session(user).api("POST", f"/users/{user}/tokens", json={"note": "ending"}).json()["token"]
    http = requests.Session()
    http.headers["Authorization"] = f"token {token}"
    return http


def api(stack, path: str) -> str:
    return stack.base_url + "/services/npuhub/api/v1" + path


def running_shares(stack) -> Fraction:
    """What the servers that run hold, read from their own environment (what the device runtime sees)."""
    total = Fraction(0)
    for user in stack.admin("GET", "/users", params={"state": "active"}).json():
        for server in user.get("servers", {}).values():
            pid = (server.get("state") or {}).get("pid")
            if pid and pid_alive(pid):
                total += Fraction(process_env(pid).get("NPUHUB_SHARE", "0"))
    return total


def assert_pool_agrees(stack, operator: requests.Session) -> None:
    """The service's count of held shares equals what running servers hold, once things settle."""
    deadline = time.monotonic() + 30
    while True:
        held = Fraction(operator.get(api(stack, "/pool"), timeout=30).json()["models"][0]["held"])
        running = running_shares(stack)
        if held == running:
            return
        assert time.monotonic() < deadline, f"the pool counts {held} held, the servers hold {running}"
        time.sleep(0.5)


def granted_request(stack, http, user: str) -> dict:
    found = http.get(api(stack, "/requests"), params={"user": user, "state": "granted"}, timeout=30).json()
    return found["requests"][0]


@pytest.mark.parametrize("who", ["owner", "teacher"])
def test_ending_a_running_servers_grant_stops_the_server_first(stack, who):
    student = {"owner": "student1", "teacher": "student2"}[who]
    operator = service(stack, "admin")
    assert stack.spawn(student, "npu-quarter").status_code in (201, 202)
    pid = stack.admin.wait_for_server(student)["servers"][""]["state"]["pid"]
    # a whole device waits behind her quarter
    assert stack.spawn("labmember1", "npu-1").status_code == 202
    assert_pool_agrees(stack, operator)

    ender = service(stack, student if who == "owner" else "teacher1")
    rid = granted_request(stack, ender, student)["id"]
    r = ender.delete(api(stack, f"/requests/{rid}"), timeout=60)
    # 202 while the hub stops the server; 200 when it stopped at once (its spawner released the slice first)
    assert (r.status_code, r.json()["state"]) in {(202, "granted"), (200, "released")}, r.text
    assert r.status_code == 200 or r.json()["stopping"] is True

    # the server stops, then its slice goes to the one waiting: never both at once
    stack.admin.wait_for_server(student, ready=False)
    assert not pid_alive(pid)
    ended = operator.get(api(stack, f"/requests/{rid}"), timeout=30).json()
    assert ended["state"] == "released" and ended["reason"] == "stopped", ended
    stack.admin.wait_for_server("labmember1")
    assert_pool_agrees(stack, operator)

    assert stack.admin("DELETE", "/users/labmember1/server").status_code in (202, 204)
    stack.admin.wait_for_server("labmember1", ready=False)
    assert_pool_agrees(stack, operator)


def test_a_student_cannot_end_someone_elses_grant(stack):
    assert stack.spawn("student3", "npu-quarter").status_code in (201, 202)
    stack.admin.wait_for_server("student3")
    operator = service(stack, "admin")
    rid = granted_request(stack, operator, "student3")["id"]
    other = service(stack, "student4")
    assert other.delete(api(stack, f"/requests/{rid}"), timeout=30).status_code == 403
    assert stack.admin.user("student3")["servers"][""]["ready"]
    assert_pool_agrees(stack, operator)
    assert stack.admin("DELETE", "/users/student3/server").status_code in (202, 204)
    stack.admin.wait_for_server("student3", ready=False)
    assert_pool_agrees(stack, operator)


def test_a_server_that_dies_gives_its_slice_back_and_the_pool_agrees(stack):
    import os
    import signal

    operator = service(stack, "admin")
    assert stack.spawn("student5", "npu-quarter").status_code in (201, 202)
    pid = stack.admin.wait_for_server("student5")["servers"][""]["state"]["pid"]
    assert_pool_agrees(stack, operator)
    os.kill(pid, signal.SIGKILL)
    # the hub polls its servers every 10 s; the spawner then releases the slice
    deadline = time.monotonic() + 60
    while operator.get(api(stack, "/requests"), params={"user": "student5", "state": "granted"},
                       timeout=30).json()["requests"]:
        assert time.monotonic() < deadline, "the dead server's slice was never released"
        time.sleep(1)
    assert_pool_agrees(stack, operator)
