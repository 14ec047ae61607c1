"""The workshop store on SQLite: codes, seats, refusals, revocation and who is due for removal."""

from __future__ import annotations

import re

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from npuhub.workshops.policy import WorkshopError, format_code
from npuhub.workshops.store import WorkshopStore

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)


@pytest.fixture
def store(tmp_path):
    s = WorkshopStore(f"sqlite:///{tmp_path / 'npuhub.sqlite'}")
    yield s
    s.close()


def make(store, **kw):
    args = dict(group="course-demo", starts_at=T0, ends_at=T0 + 2 * HOUR, created_by="teacher1", now=T0)
    args.update(kw)
    return store.create(**args)


def reason_of(call) -> str:
    with pytest.raises(WorkshopError) as info:
        call()
    return info.value.reason


def test_create_get_and_list(store):
    a = make(store, flavor="cpu", max_guests=30)
    b = make(store, group="course-other", now=T0 + HOUR)
    assert a.code != b.code
    assert store.get(a.code) == a
    assert (a.flavor, a.max_guests, a.guests, a.revoked_at) == ("cpu", 30, 0, None)
    assert [w.code for w in store.list()] == [b.code, a.code]  # newest first
    assert [w.code for w in store.list(["course-demo"])] == [a.code]
    assert store.list([]) == [] and store.get("ZZZZZZZZ") is None


def test_a_code_collision_draws_again(store):
    codes = iter(["AAAA2222", "AAAA2222", "BBBB3333"])
    assert make(store, code_factory=lambda: next(codes)).code == "AAAA2222"
    assert make(store, code_factory=lambda: next(codes)).code == "BBBB3333"


def test_guests_get_unique_names_and_count_against_the_seats(store):
    w = make(store, max_guests=3)
    names = [store.admit(w.code, "Zoë Li", now=T0 + HOUR + timedelta(seconds=i))[1].username
             for i in range(2)]
    assert len(set(names)) == 2 and all(re.fullmatch(r"guest-zoe-li-[a-z2-9]{4}", n) for n in names)
    assert not any(w.code.lower() in n for n in names)
    # A name the hub already has (a non-guest account) is skipped too.
    asked = []
    workshop, guest = store.admit(w.code, "张三", now=T0 + 2 * HOUR - timedelta(seconds=1),
                                  name_taken=lambda name: asked.append(name) or len(asked) == 1)
    assert guest.username == asked[1] != asked[0] and workshop.guests == 3
    assert reason_of(lambda: store.admit(w.code, "late", now=T0 + HOUR)) == "workshop_full"
    assert store.get(w.code).guests == 3
    assert [g.display_name for g in store.guests(w.code)] == ["Zoë Li", "Zoë Li", "张三"]
    assert store.guest(names[0]).code == w.code


def test_refusals(store):
    w = make(store)
    assert reason_of(lambda: store.admit("ZZZZZZZZ", "x", now=T0)) == "code_unknown"
    assert reason_of(lambda: store.admit("not-a-code", "x", now=T0)) == "code_unknown"
    assert reason_of(lambda: store.admit(w.code, "x", now=T0 - timedelta(seconds=1))) == "code_not_started"
    assert reason_of(lambda: store.admit(w.code, "x", now=T0 + 2 * HOUR)) == "code_expired"
    store.revoke(w.code, by="teacher1", now=T0 + HOUR)
    assert reason_of(lambda: store.admit(w.code, "x", now=T0 + HOUR)) == "code_revoked"
    assert store.get(w.code).guests == 0
    with pytest.raises(WorkshopError) as info:
        store.admit("ZZZZZZZZ", "x", now=T0)
    assert format_code("ZZZZZZZZ") in info.value.text.en and info.value.status == 404


def test_revoking_again_keeps_the_first_revocation(store):
    w = make(store)
    first = store.revoke(w.code, by="teacher1", now=T0 + HOUR)
    again = store.revoke(w.code, by="admin", now=T0 + 2 * HOUR)
    assert (again.revoked_at, again.revoked_by) == (first.revoked_at, "teacher1") == (T0 + HOUR, "teacher1")
    assert reason_of(lambda: store.revoke("ZZZZZZZZ", by="teacher1", now=T0)) == "workshop_not_found"


def test_who_is_due_for_removal(store):
    ending = make(store, ends_at=T0 + HOUR)
    revoked = make(store)
    lasting = make(store)
    for w in (ending, revoked, lasting):
        store.admit(w.code, "guest", now=T0)
    store.revoke(revoked.code, by="teacher1", now=T0 + timedelta(minutes=5))
    due = lambda t: sorted(g.code for g in store.due_for_removal(t))  # noqa: E731
    assert due(T0 + timedelta(minutes=10)) == [revoked.code]
    assert due(T0 + HOUR) == sorted([ending.code, revoked.code])
    for guest in store.due_for_removal(T0 + HOUR):
        store.mark_removed(guest.username, T0 + HOUR)
    assert due(T0 + HOUR) == []
    assert due(T0 + 2 * HOUR) == [lasting.code]
    assert store.guests(ending.code)[0].removed_at == T0 + HOUR


# -- properties ----------------------------------------------------------------------------

_memory = WorkshopStore("sqlite://")  # one in-memory database for every example; each makes its own code

events = st.lists(
    st.tuples(st.sampled_from(["sign_in", "revoke"]), st.integers(min_value=-30, max_value=150)),
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(max_guests=st.one_of(st.none(), st.integers(1, 10)), minutes=st.integers(1, 120), events=events)
def test_max_guests_and_the_window_always_hold(max_guests, minutes, events):
    """Whatever order sign-ins and revocations come in, nobody gets in outside the window,
    after revocation or beyond max guests; each refusal names the first rule broken."""
    end = T0 + timedelta(minutes=minutes)
    w = make(_memory, ends_at=end, max_guests=max_guests)
    revoked_at = None
    admitted = []
    for kind, offset in sorted(events, key=lambda e: e[1]):  # time goes forward
        now = T0 + timedelta(minutes=offset)
        if kind == "revoke":
            _memory.revoke(w.code, by="teacher1", now=now)
            revoked_at = revoked_at or now
            continue
        try:
            _memory.admit(w.code, f"guest {len(admitted)}", now=now)
        except WorkshopError as e:
            expected = ("code_revoked" if revoked_at else "code_not_started" if now < T0
                        else "code_expired" if now >= end else "workshop_full")
            assert e.reason == expected
        else:
            assert revoked_at is None and T0 <= now < end
            admitted.append(now)
    assert max_guests is None or len(admitted) <= max_guests
    assert _memory.get(w.code).guests == len(admitted) == len(_memory.guests(w.code))
    later = T0 + timedelta(minutes=200)
    due = {g.code for g in _memory.due_for_removal(later) if g.code == w.code}
    assert due == ({w.code} if admitted else set())
