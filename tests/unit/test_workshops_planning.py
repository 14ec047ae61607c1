"""A workshop's inputs (roster, materials, reservation, budget) and the participants' view, as pure rules."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest

from npuhub.announcements.policy import AnnouncementError, check_window, clean_text, parse_scope
from npuhub.workshops.participants import participants, summary
from npuhub.workshops.policy import Guest, Materials, Workshop, WorkshopError
from npuhub.workshops.roster import parse_budget, parse_materials, parse_reserve, parse_roster


def test_roster_from_a_csv_or_lines():
    csv_text = "\ufeff学号,姓名\r\nS2024001,张三\r\n\r\ns2024002 , 李四\r\nS2024001,again\r\n"
    assert parse_roster(csv_text) == ["s2024001", "s2024002"]
    assert parse_roster("a.b@x\nc-d\n", normalize=str) == ["a.b@x", "c-d"]
    assert parse_roster("") == []
    with pytest.raises(WorkshopError) as e:
        parse_roster("ok1\nnot ok\n")
    assert e.value.reason == "roster_invalid" and "Line 2" in e.value.text.en and "第 2 行" in e.value.text.zh


def test_materials_and_their_link():
    m = parse_materials(" https://git.example.edu/ai101/notebooks ", "", "")
    assert m == Materials("https://git.example.edu/ai101/notebooks", "main", "")
    link = urlsplit(m.link())
    assert link.path == "/hub/user-redirect/git-pull"
    assert parse_qs(link.query) == {"repo": [m.repo], "branch": ["main"], "urlpath": ["lab/tree/notebooks"]}
    assert parse_materials("") is None
    for repo, branch, path, reason in [("ftp://x/y", "", "", "materials_invalid"),
                                       ("https://x/y\" onload=", "", "", "materials_invalid"),
                                       ("https://x/y", "a..b", "", "branch_invalid"),
                                       ("https://x/y", "", "lab/../../etc", "materials_invalid")]:
        with pytest.raises(WorkshopError) as e:
            parse_materials(repo, branch, path)
        assert e.value.reason == reason


def test_reserve_and_budget():
    assert parse_reserve("", "npu-eighth") is None and parse_reserve("0", None) is None
    assert parse_reserve("40", "npu-eighth") == 40
    for value, flavor in (("40", ""), ("-1", "f"), ("x", "f"), ("1001", "f")):
        with pytest.raises(WorkshopError):
            parse_reserve(value, flavor)
    assert parse_budget("12.5") == "25/2" and parse_budget(" ") is None
    for value in ("0", "-3", "nan", "1/0", "abc"):
        with pytest.raises(WorkshopError):
            parse_budget(value)


def test_participants_states_usage_and_budget():
    now = datetime(2026, 5, 4, 10, 0, tzinfo=timezone.utc)
    w = Workshop("ABCDEFGH", "course-demo", now - timedelta(hours=1), now + timedelta(hours=1), "t1",
                 now - timedelta(days=1), "npu-eighth", reservation_id="r1", budget_hours="1")

    def spawner(ready=False, pending=None):
        return SimpleNamespace(ready=ready, pending=pending)

    users = {
        "s1": SimpleNamespace(last_activity=now - timedelta(minutes=1), spawners={"": spawner(ready=True)}),
        "s2": SimpleNamespace(last_activity=(now - timedelta(hours=1)).replace(tzinfo=None),
                              spawners={"": spawner(ready=True)}),
        "s3": SimpleNamespace(last_activity=None, spawners={"": spawner(pending="spawn")}),
        "s4": SimpleNamespace(last_activity=None, spawners={}),
    }
    requests = [
        {"user": "s1", "state": "granted", "arrived": "2026-05-04T09:30:00Z", "reservation": "r1",
         "charged": {"exact": "1/2"}},
        {"user": "s2", "state": "granted", "arrived": "2026-05-04T09:10:00Z", "reservation": None,
         "charged": {"exact": "3/4"}},
        {"user": "s1", "state": "ended", "arrived": "2026-05-03T09:00:00Z", "reservation": None,
         "charged": {"exact": "5"}},  # before the window: not the workshop's
    ]
    guests = [Guest("guest-a-xxxx", "ABCDEFGH", "A", now), Guest("guest-b-yyyy", "ABCDEFGH", "B", now, now)]
    people = participants(w, ["s1", "s2", "s3", "s4", "s5"], guests, users.get, requests, now)
    states = {p.name: p.state for p in people}
    assert states == {"s1": "running", "s2": "idle", "s3": "queued", "s4": "signed_in", "s5": "not_signed_in",
                      "guest-a-xxxx": "not_signed_in", "guest-b-yyyy": "removed"}
    s1 = next(p for p in people if p.name == "s1")
    assert s1.on_reservation and s1.device_hours == 0.5
    view = s1.view()
    assert view["state_text"] == {"zh": "运行中", "en": "running"}
    total = summary(people, w)
    assert total["device_hours_used"] == 1.25 and total["over_budget"] and total["budget_left_device_hours"] == -0.25
    assert total["counts"]["running"] == 1 and total["participants"] == 7


def test_announcement_rules():
    assert clean_text({"zh": " 停机\n维护 ", "en": ""}).en == "停机 维护"
    assert clean_text("same").zh == "same"
    for bad in ({"zh": "", "en": " "}, None, "x" * 501):
        with pytest.raises(AnnouncementError):
            clean_text(bad)
    assert parse_scope("all") is None and parse_scope("group:course-demo") == "course-demo"
    for bad in ("everyone", "group:", "group:a b", "lab:x"):
        with pytest.raises(AnnouncementError) as e:
            parse_scope(bad)
        assert e.value.reason == "announcement_scope_invalid"
    check_window(0, 10, 5)
    for window, reason in (((10, 10, 0), "announcement_window_empty"), ((0, 5, 6), "announcement_window_past"),
                           ((0, 91 * 86400, 1), "announcement_window_too_long")):
        with pytest.raises(AnnouncementError) as e:
            check_window(*window)
        assert e.value.reason == reason


def test_roster_members_join_the_course_and_open_on_the_materials_while_it_is_open():
    from npuhub.workshops.planning import WorkshopPlanning
    from npuhub.workshops.policy import utcnow
    from npuhub.workshops.store import WorkshopStore

    class Planner(WorkshopPlanning):
        workshop_store = WorkshopStore("sqlite://")

    planner, now = Planner(), utcnow()
    made = planner.workshop_store.create(
        group="course-ai", starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(hours=1),
        created_by="t", now=now, roster=["s1"], materials=parse_materials("https://git.example.edu/ai101"))
    assert planner.with_roster_groups("s1", {"name": "s1", "groups": ["lab-x"]})["groups"] == ["lab-x", "course-ai"]
    assert planner.with_roster_groups("s2", {"name": "s2", "groups": []})["groups"] == []
    assert "groups" not in planner.with_roster_groups("s1", {"name": "s1"})  # no groups from sign-in: untouched

    spawner = SimpleNamespace(default_url="/lab", user=SimpleNamespace(name="s1"))
    planner.open_with_materials(spawner, planner.workshop_store.open_for("s1", utcnow()))
    assert spawner.default_url.startswith("/git-pull?repo=https%3A%2F%2Fgit.example.edu%2Fai101&branch=main")
    planner.workshop_store.revoke(made.code, by="t", now=utcnow())
    planner.open_with_materials(spawner, planner.workshop_store.open_for("s1", utcnow()))
    assert spawner.default_url == "/lab"  # as before, once no workshop of hers is open
