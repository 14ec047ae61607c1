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
