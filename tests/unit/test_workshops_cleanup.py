"""The clean-up removes the guests of workshops that are over, retries refusals, touches nobody else."""

from __future__ import annotations

from datetime import timedelta

import pytest

from support.doubles import FakeClock, FakeHubUsers
from npuhub.workshops.cleanup import WorkshopCleanup, service_scopes
from npuhub.workshops.store import WorkshopStore


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def store(tmp_path):
    s = WorkshopStore(f"sqlite:///{tmp_path / 'npuhub.sqlite'}")
    yield s
    s.close()


def workshop_with_guests(store, clock, names, minutes=60):
    w = store.create(group="course-demo", starts_at=clock.now, ends_at=clock.now + timedelta(minutes=minutes),
                     created_by="teacher1", now=clock.now)
    return w, [store.admit(w.code, name, now=clock.now)[1].username for name in names]


async def test_guests_are_removed_once_their_workshop_is_over(store, clock):
    ending, (a, b) = workshop_with_guests(store, clock, ["A", "B"], minutes=30)
    lasting, (c,) = workshop_with_guests(store, clock, ["C"], minutes=120)
    hub = FakeHubUsers({a, b, c, "student1", "teacher1"})
    cleanup = WorkshopCleanup(store, hub.delete, clock=clock)

    assert await cleanup.run_once() == [] and hub.asked == []
    clock.advance(minutes=30)
    assert sorted(await cleanup.run_once()) == sorted([a, b])
    assert hub.names == {c, "student1", "teacher1"}
    assert all(g.removed_at == clock.now for g in store.guests(ending.code))
    assert await cleanup.run_once() == []  # nothing twice

    store.revoke(lasting.code, by="teacher1", now=clock.now)
    assert await cleanup.run_once() == [c]
    assert hub.names == {"student1", "teacher1"}
    assert set(hub.asked) == {a, b, c}  # never a non-guest


async def test_what_the_hub_refuses_is_retried(store, clock):
    w, (stopping, unreachable, gone) = workshop_with_guests(store, clock, ["S", "U", "G"])
    hub = FakeHubUsers({stopping, unreachable}, answers={
        stopping: [400],  # "server is in the process of stopping"
        unreachable: [ConnectionError("hub not up yet")],
    })
    cleanup = WorkshopCleanup(store, hub.delete, clock=clock)
    clock.advance(hours=1)
    assert await cleanup.run_once() == [gone]  # 404: the account is gone already, e.g. an admin removed it
    assert sorted(await cleanup.run_once()) == sorted([stopping, unreachable])
    assert hub.names == set()


async def test_a_refusal_by_scope_is_not_taken_for_success(store, clock):
    w, (guest,) = workshop_with_guests(store, clock, ["X"])
    hub = FakeHubUsers({guest}, answers={guest: [403, 403]})
    cleanup = WorkshopCleanup(store, hub.delete, clock=clock)
    clock.advance(hours=1)
    assert await cleanup.run_once() == [] and await cleanup.run_once() == []
    assert store.guest(guest).removed_at is None and guest in hub.names


def test_the_service_may_remove_guests_only():
    assert service_scopes("workshop-guests") == ["delete:users!group=workshop-guests"]
