"""Announcements through the real hub's proxy: who may post what, the window, bilingual refusals, who sees what.

One service process per database (SQLite and the real PostgreSQL): the
announcements' table comes from its own migration on each.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest

pytestmark = pytest.mark.integration


def _at(**delta) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(**delta)).isoformat().replace("+00:00", "Z")


def _texts(client, **params) -> list[str]:
    r = client.get("/announcements", params=params)
    assert r.status_code == 200, r.text
    return [a["text"]["en"] for a in r.json()["announcements"]]


def _refused(r, status: int, reason: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["reason"] == reason, body
    assert body["message"]["zh"] and body["message"]["en"] and body["message"]["zh"] != body["message"]["en"]


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_announcements_post_show_remove(start_service, db_url):
    svc = start_service(db_url)
    admin, teacher, other = svc.client("admin"), svc.client("teacher1"), svc.client("teacher2")
    student, ai_student = svc.client("student1"), svc.client("aistudent1")

    # a teacher posts for her course, not for everyone nor for another course
    r = teacher.post("/announcements", {"text": {"zh": "工作坊 14:00 开始", "en": "Workshop at 14:00"},
                                        "ends": _at(hours=2), "scope": "group:course-demo"})
    assert r.status_code == 201, r.text
    course = r.json()
    assert course["scope"] == "group:course-demo" and course["author"] == "teacher1"
    assert course["text"] == {"zh": "工作坊 14:00 开始", "en": "Workshop at 14:00"}
    _refused(teacher.post("/announcements", {"text": "x", "ends": _at(hours=1), "scope": "all"}),
             403, "announcement_not_allowed_all")
    _refused(other.post("/announcements", {"text": "x", "ends": _at(hours=1), "scope": "group:course-demo"}),
             403, "announcement_not_allowed_group")
    _refused(student.post("/announcements", {"text": "x", "ends": _at(hours=1), "scope": "group:course-demo"}),
             403, "announcement_not_allowed_group")

    # an admin posts for everyone: one string is both languages
    r = admin.post("/announcements", {"text": "Maintenance tonight", "starts": _at(seconds=-5),
                                      "ends": _at(hours=1), "scope": "all"})
    assert r.status_code == 201, r.text
    everyone = r.json()
    # one still to come is not shown yet (except to who asks for the upcoming ones)
    r = admin.post("/announcements", {"text": {"en": "Next week"}, "starts": _at(days=7),
                                      "ends": _at(days=8), "scope": "all"})
    assert r.status_code == 201 and r.json()["text"] == {"zh": "Next week", "en": "Next week"}

    # who sees what: the course's students and teacher see theirs, others only everyone's
    assert sorted(_texts(student)) == sorted(["Workshop at 14:00", "Maintenance tonight"])
    assert _texts(ai_student) == ["Maintenance tonight"]
    assert "Workshop at 14:00" in _texts(teacher)
    assert "Next week" in _texts(admin, upcoming="true")
    assert "Next week" not in _texts(admin)
    # one path, like every other call: not beside the API
    r = ai_student.http.get(ai_student.base.rsplit("/api/v1", 1)[0] + "/announcements", timeout=30)
    assert r.status_code == 404
    # operators may ask for someone else (the hub does, for its pages) or for every one; people may not
    assert sorted(_texts(admin, user="student2")) == sorted(["Workshop at 14:00", "Maintenance tonight"])
    _refused(student.get("/announcements", params={"everyone": "true"}), 403, "permission_denied")
    _refused(student.get("/announcements", params={"user": "student2"}), 403, "permission_denied")
    assert set(_texts(admin, everyone="true")) == {"Workshop at 14:00", "Maintenance tonight"}

    # bad input: a clear bilingual refusal, never a 500
    cases = [
        ({"text": {"zh": " ", "en": ""}, "ends": _at(hours=1), "scope": "all"}, 400, "announcement_text_empty"),
        ({"text": "x" * 501, "ends": _at(hours=1), "scope": "all"}, 400, "announcement_text_too_long"),
        ({"text": "x", "starts": _at(hours=2), "ends": _at(hours=1), "scope": "all"}, 400,
         "announcement_window_empty"),
        ({"text": "x", "starts": _at(hours=-3), "ends": _at(hours=-1), "scope": "all"}, 400,
         "announcement_window_past"),
        ({"text": "x", "ends": _at(days=91), "scope": "all"}, 400, "announcement_window_too_long"),
        ({"text": "x", "ends": _at(hours=1), "scope": "course-demo"}, 400, "announcement_scope_invalid"),
        ({"text": "x", "ends": "tomorrow", "scope": "all"}, 400, "body_invalid"),
        ({"text": "x", "scope": "all"}, 400, "body_invalid"),
        ({"text": ["x"], "ends": _at(hours=1), "scope": "all"}, 400, "body_invalid"),
    ]
    for body, status, reason in cases:
        _refused(admin.post("/announcements", body), status, reason)

    # removal: another teacher may not, the author may; removed is gone for everyone, a second time 404
    _refused(other.delete(f"/announcements/{course['id']}"), 403, "announcement_not_allowed_group")
    assert teacher.delete(f"/announcements/{course['id']}").status_code == 204
    assert "Workshop at 14:00" not in _texts(student)
    _refused(teacher.delete(f"/announcements/{course['id']}"), 404, "announcement_unknown")
    _refused(admin.delete("/announcements/" + "0" * 32), 404, "announcement_unknown")
    assert admin.delete(f"/announcements/{everyone['id']}").status_code == 204
    assert _texts(student) == []


def test_announcement_ends_on_time_and_survives_a_restart(start_service, tmp_path):
    svc = start_service()
    admin = svc.client("admin")
    r = admin.post("/announcements", {"text": "Long notice", "ends": _at(hours=1), "scope": "all"})
    assert r.status_code == 201, r.text
    svc.stop()
    again = start_service(svc.db_url)  # same database: the banner is still there
    student = again.client("student3")
    assert _texts(student) == ["Long notice"]
    ends = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    r = again.client("admin").post("/announcements", {"text": "Short notice", "ends": ends.isoformat(),
                                                      "scope": "all"})
    assert r.status_code == 201, r.text
    assert _texts(student) == ["Long notice", "Short notice"]
    time.sleep(max(0.0, (ends - dt.datetime.now(dt.UTC)).total_seconds()) + 0.2)
    assert _texts(student) == ["Long notice"]


def _banners(session, path: str = "/hub/home") -> list[tuple[str, str]]:
    """The banners of a hub page: (zh, en) of each, as the page's HTML carries them."""
    import re

    html = session.http.get(session.url(path), timeout=30).content.decode("utf-8")
    found = re.findall(r'class="[^"]*npuhub-banner[^"]*"[^>]*>\s*<span lang="zh">(.*?)</span>'
                       r'<span class="npuhub-sep"> / </span><span lang="en">(.*?)</span>', html, re.S)
    return found


def test_hub_pages_show_current_announcements_without_a_restart(start_service, service_hub):
    svc = start_service()
    admin, teacher = svc.client("admin"), svc.client("teacher1")
    student, outsider = service_hub.session("student5"), service_hub.session("aistudent1")
    assert _banners(student) == []
    r = teacher.post("/announcements", {"text": {"zh": "工作坊 <b>14:00</b>", "en": "Workshop <b>14:00</b>"},
                                        "ends": _at(hours=1), "scope": "group:course-demo"})
    assert r.status_code == 201, r.text
    course = r.json()["id"]
    assert admin.post("/announcements", {"text": "Maintenance", "ends": _at(hours=1), "scope": "all"}
                      ).status_code == 201
    # the hub asks the service at most every second here (10 s by default): a page or two later, it shows them
    deadline = time.monotonic() + 15
    while len(_banners(student)) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    # the teacher's words are text, never markup
    assert sorted(_banners(student)) == [("Maintenance", "Maintenance"),
                                         ("工作坊 &lt;b&gt;14:00&lt;/b&gt;", "Workshop &lt;b&gt;14:00&lt;/b&gt;")]
    assert _banners(outsider) == [("Maintenance", "Maintenance")]
    # the login page shows everyone's, to people not signed in yet
    from support.hubclient import HubSession

    assert ("Maintenance", "Maintenance") in _banners(HubSession(service_hub.base_url), "/hub/login")
    assert teacher.delete(f"/announcements/{course}").status_code == 204
    deadline = time.monotonic() + 15
    while len(_banners(student)) > 1 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _banners(student) == [("Maintenance", "Maintenance")]


def test_cli_posts_lists_and_removes(start_service):
    import re

    from test_cli import as_user, ok, refused

    svc = start_service()
    ends = (dt.datetime.now() + dt.timedelta(hours=1)).replace(microsecond=0).isoformat()
    out = ok(as_user(svc, "teacher1", "announce", "post", "--group", "course-demo", "--zh", "明天停机",
                     "--en", "Down tomorrow", "--end", ends))
    aid = re.match(r"Announcement ([0-9a-f]{32}) for group:course-demo, ", out).group(1)
    listing = ok(as_user(svc, "student4", "announce", "list"))
    assert aid in listing and "明天停机 / Down tomorrow" in listing
    err = refused(as_user(svc, "teacher1", "announce", "post", "--everyone", "--en", "x", "--end", ends))
    assert "Only admins may post announcements for everyone" in err
    assert ok(as_user(svc, "teacher1", "announce", "remove", aid)).startswith(f"Announcement {aid} removed")
    assert ok(as_user(svc, "student4", "announce", "list")) == "No announcements now or to come.\n"
