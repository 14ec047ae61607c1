"""The workshop store on real databases: "at most N guests" holds when sign-ins race on many connections."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from npuhub.workshops.policy import WorkshopError, utcnow
from npuhub.workshops.store import WorkshopStore

pytestmark = pytest.mark.integration


def test_racing_sign_ins_never_pass_max_guests(db_url):
    now = utcnow()
    setup = WorkshopStore(db_url)
    workshop = setup.create(group="course-demo", starts_at=now, ends_at=now + timedelta(hours=1),
                            created_by="teacher1", now=now, max_guests=20)
    threads, attempts = 12, 4  # 48 people for 20 seats, each thread its own engine and connection
    stores = [WorkshopStore(db_url) for _ in range(threads)]
    start = threading.Barrier(threads)
    admitted, refused, errors = [], [], []

    def sign_in(store: WorkshopStore, n: int):
        start.wait()
        for i in range(attempts):
            try:
                # Same display name everywhere: the account names must still come out unique.
                admitted.append(store.admit(workshop.code, "Li Lei", now=utcnow())[1].username)
            except WorkshopError as e:
                refused.append(e.reason)
            except Exception as e:  # noqa: BLE001 (a database error is a failure of the test)
                errors.append(repr(e))

    workers = [threading.Thread(target=sign_in, args=(s, n)) for n, s in enumerate(stores)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(60)
    assert not errors
    assert len(admitted) == 20 and len(set(admitted)) == 20
    assert refused == ["workshop_full"] * (threads * attempts - 20)
    assert setup.get(workshop.code).guests == 20
    assert sorted(g.username for g in setup.guests(workshop.code)) == sorted(admitted)
    for s in [setup, *stores]:
        s.close()


def test_the_schema_is_made_once_and_reused(db_url):
    now = utcnow()
    first = WorkshopStore(db_url)
    code = first.create(group="course-demo", starts_at=now, ends_at=now + timedelta(hours=1),
                        created_by="teacher1", now=now).code
    first.close()
    again = WorkshopStore(db_url)  # a hub restart: the migration is a no-op, the code is still there
    assert again.get(code).created_at == now
    again.close()


def test_a_workshop_keeps_its_roster_materials_reservation_and_budget(db_url):
    from npuhub.workshops.roster import parse_budget, parse_materials, parse_roster

    now = utcnow()
    store = WorkshopStore(db_url)
    made = store.create(group="course-demo", starts_at=now, ends_at=now + timedelta(hours=1), created_by="teacher1",
                        now=now, flavor="npu-eighth", roster=parse_roster("学号\nS001\ns002\nS001\n"),
                        materials=parse_materials("https://git.example.edu/ai101", "week-1", "lab/tree/ai101"),
                        reserved_count=40, budget_hours=parse_budget("12.5"))
    store.set_reservation(made.code, "res-1")
    again = WorkshopStore(db_url).get(made.code)  # another engine: what the database kept
    assert again.materials.repo == "https://git.example.edu/ai101" and again.materials.branch == "week-1"
    assert (again.reserved_count, again.reservation_id, again.budget_hours) == (40, "res-1", "25/2")
    assert store.roster(made.code) == ["s001", "s002"]
    assert [w.code for w in store.open_for("s002", now)] == [made.code]
    assert store.open_for("s002", now + timedelta(hours=2)) == []
    assert store.open_for("s003", now) == []
    store.revoke(made.code, by="teacher1", now=now)
    assert store.open_for("s001", now) == []
