"""What the spawn page says, end to end through the proxy: the queue, a refusal with its renewal time, a cancel.

Every sentence comes from the npuhub service in both languages, reaches the
spawn page's progress stream as a plain line (both) and as HTML with one
element per language (npuhub's spawn page shows the reader's), and a start
that ends without a server says why, never "ready".
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
import requests

from support.progress import Progress
from support.sites import make_site
from support.stacks import EmbeddedStack

pytestmark = pytest.mark.integration

SITE = make_site(quotas=[{"scope": "user", "groups": ["course-demo"], "device_hours": 10, "period": "week"}])


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = EmbeddedStack(tmp_path_factory.mktemp("messages"), SITE).start()
    yield stack
    stack.stop()


def service(stack, user: str) -> requests.Session:
    """The npuhub service's API through the proxy, with ``user``'s own hub token."""
    token = stack.session(user).api("POST", f"/users/{user}/tokens", json={"note": "messages"}).json()["token"]
    http = requests.Session()
    http.headers["Authorization"] = f"token {token}"
    return http


def api(stack) -> str:
    return stack.base_url + "/services/npuhub/api/v1"


def my_request(stack, http, user: str, server: str = "") -> dict:
    found = http.get(api(stack) + "/requests", params={"user": user, "state": "waiting"}, timeout=30).json()
    return next(r for r in found["requests"] if r["server"] == server)


def test_the_queue_the_estimate_and_a_cancel_in_both_languages(stack):
    assert stack.spawn("labmember1", "npu-1").status_code in (201, 202)
    stack.admin.wait_for_server("labmember1")
    try:
        assert stack.spawn("student1", "npu-quarter").status_code == 202
        progress = Progress(stack, "student1")
        waiting = progress.wait_for(lambda e: "1st in line" in e.get("message", ""))
        # both languages in the plain line, each whole in its own element for the page
        assert "排在第 1 位" in waiting["message"] and "Waiting for ¼ Ascend 910B" in waiting["message"]
        assert '<span class="npuhub-t" lang="zh">正在等待' in waiting["html_message"]
        assert '<span class="npuhub-t" lang="en">Waiting for' in waiting["html_message"]
        # the estimate, a known value: the one ahead started a moment ago and sessions last an hour
        # until the service has seen any end (its default expected session length)
        assert re.search(r"about (59|60) minutes", waiting["message"]), waiting["message"]
        assert waiting["npuhub"]["state"] == "waiting" and waiting["npuhub"]["position"] == 1

        # she cancels her own waiting start (the lab extension's Cancel does the same call)
        mine = service(stack, "student1")
        r = mine.delete(api(stack) + "/requests/" + my_request(stack, mine, "student1")["id"], timeout=30)
        assert r.status_code == 200 and r.json()["state"] == "cancelled", r.text
        end = progress.last()
        assert end.get("failed") is True and not end.get("ready"), end
        assert "You cancelled this start." in end["message"] and "您取消了这次启动" in end["message"]
        server = stack.admin.user("student1")["servers"].get("", {})
        assert not server.get("ready") and not server.get("pending")
    finally:
        stack.admin("DELETE", "/users/labmember1/server")
        stack.admin.wait_for_server("labmember1", ready=False)


def test_a_teacher_who_cancels_a_queued_start_is_named(stack):
    assert stack.spawn("labmember1", "npu-1").status_code in (201, 202)
    stack.admin.wait_for_server("labmember1")
    try:
        assert stack.spawn("student2", "npu-quarter").status_code == 202
        progress = Progress(stack, "student2")
        progress.wait_for(lambda e: "in line" in e.get("message", ""))
        teacher = service(stack, "teacher1")
        rid = my_request(stack, teacher, "student2")["id"]
        r = teacher.delete(api(stack) + "/requests/" + rid, timeout=30)
        assert r.status_code == 200 and r.json()["ended_by"] == "teacher1", r.text
        end = progress.last()
        assert end.get("failed") is True, end
        assert "teacher1 (your teacher or the centre's staff) cancelled this start." in end["message"]
        assert "teacher1（您的老师或中心工作人员）取消了这次启动" in end["message"]
    finally:
        stack.admin("DELETE", "/users/labmember1/server")
        stack.admin.wait_for_server("labmember1", ready=False)


def test_a_spent_budget_is_refused_with_its_renewal_time_and_no_traceback(stack):
    student = stack.session("student3")  # the hub knows her (and her groups) once she has signed in
    operator = service(stack, "admin")
    r = operator.post(api(stack) + "/accounts/user:student3/adjustments",
                      json={"device_hours": "-10", "reason": "test: spend the week"}, timeout=30)
    assert r.status_code == 201, r.text
    account = operator.get(api(stack) + "/accounts/user:student3", timeout=30).json()
    assert account["spent"] is True
    renews = dt.datetime.fromisoformat(account["renews_at"].replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M UTC")

    # over the hub's REST API, as a script would
    r = stack.spawn("student3", "npu-quarter")
    assert r.status_code == 429, r.text
    assert f"It renews at {renews}; try again then." in r.json()["message"]
    assert f"额度将于 {renews} 恢复" in r.json()["message"]

    # through the spawn form, as a person would: the page comes back with the sentence
    page = student.post_spawn({"profile": "npu-quarter"}, "student3")
    text = page.content.decode()
    assert page.status_code == 429 and f"It renews at {renews}" in text, text[-1500:]
    assert "Traceback" not in stack.log_path.read_text()

