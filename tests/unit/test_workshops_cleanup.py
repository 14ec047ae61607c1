"""The clean-up stops guests' servers, then removes their accounts; retries failures; touches nobody else."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest

from support.doubles import FakeClock, FakeHub
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


def cleanup_of(store, hub, clock, **kwargs) -> WorkshopCleanup:
    kwargs.setdefault("poll_every", 0)
    return WorkshopCleanup(store, hub, clock=clock, retry_base=30, retry_max=600, **kwargs)


def asked(hub) -> set[str]:
    return {name for _, name, _ in hub.calls}


async def test_guests_are_removed_once_their_workshop_is_over(store, clock):
    ending, (a, b) = workshop_with_guests(store, clock, ["A", "B"], minutes=30)
    lasting, (c,) = workshop_with_guests(store, clock, ["C"], minutes=120)
    hub = FakeHub({name: {} for name in (a, b, c, "student1", "teacher1")})
    cleanup = cleanup_of(store, hub, clock)

    assert await cleanup.run_once() == [] and hub.calls == []
    clock.advance(minutes=30)
    assert sorted(await cleanup.run_once()) == sorted([a, b])
    assert hub.names == {c, "student1", "teacher1"}
    assert all(g.removed_at == clock.now for g in store.guests(ending.code))
    assert await cleanup.run_once() == []  # nothing twice

    store.revoke(lasting.code, by="teacher1", now=clock.now)
    assert await cleanup.run_once() == [c]
    assert hub.names == {"student1", "teacher1"}
    assert asked(hub) == {a, b, c}  # never a non-guest


async def test_a_queued_start_and_a_named_server_are_stopped_before_the_account_is_removed(store, clock):
    w, (queued, named) = workshop_with_guests(store, clock, ["Q", "N"])
    hub = FakeHub({queued: {"": "queued"}, named: {"": "running", "nb": "running"}}, stop_reads=2)
    cleanup = cleanup_of(store, hub, clock)
    store.revoke(w.code, by="teacher1", now=clock.now)

    assert sorted(await cleanup.run_once()) == sorted([queued, named])
    assert hub.names == set()
    stops = {(n, s) for method, n, s in hub.calls if method == "STOP"}
    assert stops == {(queued, ""), (named, ""), (named, "nb")}
    # never asked to remove an account while a server was still active: no 500 from the hub
    assert all(status in (200, 202, 204) for _, _, status in hub.statuses), hub.statuses
    assert all(g.removed_at == clock.now for g in store.guests(w.code))


async def test_a_server_that_takes_long_to_stop_is_waited_for_on_the_next_run(store, clock):
    w, (slow,) = workshop_with_guests(store, clock, ["S"])
    hub = FakeHub({slow: {"nb": "running"}}, stop_reads=6)
    cleanup = cleanup_of(store, hub, clock, stop_polls=3)
    store.revoke(w.code, by="teacher1", now=clock.now)

    assert await cleanup.run_once() == []
    assert slow in hub.names and store.guest(slow).removed_at is None
    assert ("DELETE", slow, None) not in hub.calls
    clock.advance(seconds=30)
    assert await cleanup.run_once() == [slow]
    assert store.guest(slow).removed_at == clock.now
    # a stop under way is not asked for twice
    assert [c for c in hub.calls if c[0] == "STOP"] == [("STOP", slow, "nb")]


async def test_failures_are_retried_with_back_off_and_logged_once_each(store, clock, caplog):
    w, (failing, unreachable, gone) = workshop_with_guests(store, clock, ["F", "U", "G"])
    hub = FakeHub({failing: {}, unreachable: {}}, answers={
        ("DELETE", failing): [500, 500, 500],
        ("GET", unreachable): [ConnectionError("hub not up yet")],
    })
    cleanup = cleanup_of(store, hub, clock)
    clock.advance(hours=1)
    caplog.set_level(logging.INFO)

    assert await cleanup.run_once() == [gone]  # 404: the account is gone already, e.g. an admin removed it
    failures = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(failures) == 2 and all("retry in 30 s" in r.getMessage() for r in failures), failures
    assert any(failing in r.getMessage() and "500" in r.getMessage() for r in failures)
    assert store.guest(failing).removed_at is None and store.guest(unreachable).removed_at is None

    calls = len(hub.calls)
    assert await cleanup.run_once() == [] and len(hub.calls) == calls  # not due again yet
    clock.advance(seconds=30)
    assert await cleanup.run_once() == [unreachable]
    clock.advance(seconds=30)
    assert await cleanup.run_once() == []  # the second failure waits twice as long
    clock.advance(seconds=30)
    assert await cleanup.run_once() == []  # third failure
    assert "retry in 120 s" in caplog.records[-1].getMessage()
    clock.advance(seconds=120)
    assert await cleanup.run_once() == [failing]
    assert hub.names == set() and store.guest(failing).removed_at == clock.now


async def test_a_refusal_by_scope_is_not_taken_for_success(store, clock):
    w, (guest,) = workshop_with_guests(store, clock, ["X"])
    hub = FakeHub({guest: {"": "running"}}, answers={("STOP", guest): [403]})
    cleanup = cleanup_of(store, hub, clock)
    clock.advance(hours=1)
    assert await cleanup.run_once() == []
    assert store.guest(guest).removed_at is None and guest in hub.names
    assert ("DELETE", guest, None) not in hub.calls


async def test_a_user_model_without_servers_is_not_taken_for_no_servers(store, clock):
    """Without read:servers the hub leaves ``servers`` out; removing the account would meet a 500."""
    w, (guest,) = workshop_with_guests(store, clock, ["R"])
    hub = FakeHub({guest: {"": "running"}})

    async def user_without_servers(name):
        model = await FakeHub.user(hub, name)
        return model and {"name": model["name"]}

    hub.user = user_without_servers
    cleanup = cleanup_of(store, hub, clock)
    clock.advance(hours=1)
    assert await cleanup.run_once() == []
    assert ("DELETE", guest, None) not in hub.calls and store.guest(guest).removed_at is None


async def test_a_revoke_need_not_wait_for_the_next_tick(store, clock):
    w, (guest,) = workshop_with_guests(store, clock, ["W"])
    hub = FakeHub({guest: {}})
    cleanup = cleanup_of(store, hub, clock)
    store.revoke(w.code, by="teacher1", now=clock.now)
    cleanup.run_soon()
    for _ in range(20):
        await asyncio.sleep(0)
    assert hub.names == set() and store.guest(guest).removed_at == clock.now


def test_the_service_may_stop_and_remove_guests_only():
    assert sorted(service_scopes("workshop-guests")) == sorted([
        "read:servers!group=workshop-guests",
        "delete:servers!group=workshop-guests",
        "delete:users!group=workshop-guests",
    ])
    # and change the membership of the site's courses and labs (a window's grant taken back), nothing else
    assert sorted(service_scopes("workshop-guests", ["lab-demo", "course-demo"])) == sorted([
        *service_scopes("workshop-guests"), "groups!group=course-demo", "groups!group=lab-demo"])
