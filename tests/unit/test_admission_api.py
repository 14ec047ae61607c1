"""The admission core's public API: the rules the service asks it for, and what the store saves and restores."""

from __future__ import annotations

from fractions import Fraction

import pytest

from npuhub.admission.core import Admission
from npuhub.admission.model import CoreState, Refused, Request, Reservation, ReservationUse, State
from npuhub.admission.quota import Budgets, QuotaRule
from npuhub.flavors import FlavorCatalogue
from npuhub.site_config import parse_site_config
from support.doubles import FakeClock

SITE = parse_site_config({
    "pool": [{"model": "Ascend 910B", "nodes": 1, "devices_per_node": 1, "node_prefix": "n"}],
    "groups": {"course-a": {"kind": "course"}, "lab-x": {"kind": "lab"}},
    "flavors": [
        {"id": "cpu", "cpu": 1, "memory": "1G"},
        {"id": "quarter", "cpu": 1, "memory": "1G", "accelerator": {"model": "Ascend 910B", "share": "1/4"}},
        # a scarce model priced above its share
        {"id": "half", "cpu": 1, "memory": "1G", "accelerator": {"model": "Ascend 910B", "share": "1/2"},
         "price": 2, "groups": ["lab-x"]},
    ],
    "limits": {"max_share": 1},
})
HOUR = 3600


def admission(clock: FakeClock, **kwargs) -> Admission:
    budgets = Budgets(rules=[QuotaRule("user", frozenset({"course-a", "lab-x"}), Fraction(1), "week")])
    return Admission(SITE, clock, budgets=budgets, **kwargs)


def test_the_catalogue_finds_a_flavor_by_id_whoever_may_use_it():
    catalogue: FlavorCatalogue = SITE.catalogue
    assert catalogue.get("half").price == 2 and catalogue.get("half").groups == {"lab-x"}
    assert catalogue.get("nope") is None and catalogue.get(None) is None and catalogue.get(["half"]) is None


def test_metering_charges_the_price_the_core_tells():
    clock = FakeClock(1_700_000_000.0)
    adm = admission(clock)
    assert adm.price("half") == 2 and adm.price("quarter") == Fraction(1, 4) and adm.price("cpu") == 0
    rid = adm.submit("x0", {"lab-x"}, "half").request
    clock.now += 90
    adm.release(rid)
    assert adm.requests[rid].charged == 2 * 90  # device-seconds: the price, not the share (1/2)


def test_end_cancels_a_waiting_request_and_releases_a_granted_one():
    clock = FakeClock(1_700_000_000.0)
    adm = admission(clock)
    granted = [adm.submit(f"a{i}", {"course-a"}, "quarter").request for i in range(4)]
    waiting = adm.submit("a4", {"course-a"}, "quarter").request
    assert adm.find(waiting).state is State.WAITING and adm.find("nobody") is None
    assert adm.end(waiting).state is State.CANCELLED and adm.find(waiting).reason == "cancelled"
    clock.now += 10
    ended = adm.end(granted[0])
    assert ended.state is State.RELEASED and ended.reason == "stopped" and ended.charged == Fraction(10, 4)
    assert adm.end(granted[0]).state is State.RELEASED  # twice: harmless, charged once
    assert adm.end(granted[1], "server_gone").reason == "server_gone"
    assert adm.end("unknown-id") is None


def test_holdings_are_her_granted_requests_in_arrival_order():
    clock = FakeClock(1_700_000_000.0)
    adm = admission(clock)
    first = adm.submit("x0", {"lab-x"}, "quarter").request
    second = adm.submit("x0", {"lab-x"}, "half").request
    adm.submit("a0", {"course-a"}, "quarter")
    queued = adm.submit("x0", {"lab-x"}, "quarter").request  # the device is full
    assert adm.find(queued).state is State.WAITING
    assert [r.id for r in adm.holdings("x0")] == [first, second] and adm.holdings("nobody") == []
    assert [r.id for r in adm.active_of("x0")] == [first, second, queued] and adm.active_of("nobody") == []
    adm.end(first)
    assert [r.id for r in adm.active_of("x0")] == [second, queued]


@pytest.mark.parametrize("change, reason", [
    (dict(ends=0), "reservation_invalid"),  # ends before it starts
    (dict(ends=HOUR), "reservation_invalid"),  # a window of no length
    (dict(count=0), "reservation_invalid"),
    (dict(starts=-3 * HOUR, ends=-HOUR), "reservation_past"),
    (dict(flavor="cpu"), "reservation_cpu_only"),
    (dict(flavor="nope"), "flavor_unknown"),
    (dict(flavor="half"), "flavor_not_allowed"),  # not for course-a
    (dict(reservation_id="taken"), "reservation_id_taken"),
])
def test_a_reservation_the_rules_refuse_says_why_and_changes_nothing(change, reason):
    clock = FakeClock(1_700_000_000.0)
    adm = admission(clock)
    adm.reserve("course-a", "quarter", 1, clock.now + HOUR, clock.now + 2 * HOUR, "t", reservation_id="taken")
    args = dict(flavor="quarter", count=1, starts=HOUR, ends=2 * HOUR, reservation_id=None) | change
    with pytest.raises(Refused) as refused:
        adm.reserve("course-a", args["flavor"], args["count"], clock.now + args["starts"], clock.now + args["ends"],
                    "t", reservation_id=args["reservation_id"])
    assert refused.value.reason == reason
    assert list(adm.reservations) == ["taken"] and adm.dirty_reservations == {"taken"}
    if reason == "flavor_not_allowed":
        assert refused.value.detail["allowed"] == "cpu, quarter"


def test_reservation_use_counts_members_placeholders_and_lending():
    clock = FakeClock(1_700_000_000.0)
    adm = admission(clock)
    res = adm.reserve("course-a", "quarter", 3, clock.now, clock.now + 2 * HOUR, "t", hold=600)
    assert adm.reservation_use(res.id, clock.now) == ReservationUse(in_use=0, held=3, lent=False)
    adm.submit("a0", {"course-a"}, "quarter")
    assert adm.reservation_use(res.id, clock.now) == ReservationUse(1, 2, False)
    clock.now += 601
    adm.schedule()
    assert adm.reservation_use(res.id, clock.now) == ReservationUse(1, 0, True)


def test_over_budget_reads_the_budget_without_opening_or_renewing_it():
    clock = FakeClock(1_700_000_000.0)
    adm = admission(clock)
    rid = adm.submit("x0", {"lab-x"}, "half").request
    req = adm.find(rid)
    assert not adm.over_budget(req, clock.now)
    clock.now += 1800  # at 2 device-hours an hour, half an hour spends the weekly 1
    adm.meter()
    assert adm.over_budget(req, clock.now)
    adm.budgets.pending.clear()
    next_week = clock.now + 7 * 24 * HOUR
    assert not adm.over_budget(req, next_week)  # renewed by then ...
    assert adm.budgets.pending == [] and adm.budgets.accounts["user:x0"].balance <= 0  # ... but only as a read
    assert [a.name for a in adm.accounts_of("x0", {"lab-x"}, None, clock.now)] == ["user:x0"]


def test_snapshot_and_restore_carry_what_the_estimates_and_arrivals_need():
    clock = FakeClock(1_700_000_000.0)
    adm = admission(clock, default_session=600.0)
    granted = [adm.submit(f"a{i}", {"course-a"}, "quarter").request for i in range(4)]
    clock.now += 1200
    adm.release(granted[0])  # the mean moves towards 1200 s
    waiting = [adm.submit(f"x{i}", {"lab-x"}, "half").request for i in range(2)]
    state = adm.snapshot()
    assert state.session_mean == pytest.approx(0.9 * 600 + 0.1 * 1200) and state.seq == 6

    again = admission(clock, default_session=600.0)
    active = [r for r in adm.requests.values() if r.active]
    again.restore(state, active, adm.reservations.values())
    assert again.snapshot() == state
    assert [r.id for r in again.queue()] == waiting and again.positions() == adm.positions()
    assert again.submit("a9", {"course-a"}, "quarter").request and max(r.seq for r in again.requests.values()) == 7
    with pytest.raises(RuntimeError):
        again.restore(state, active)


def test_reserved_capacity_is_what_placeholders_hold_by_model():
    clock = FakeClock(1_700_000_000.0)
    adm = admission(clock)
    assert adm.reserved() == {}
    adm.reserve("course-a", "quarter", 3, clock.now, clock.now + HOUR, "t")
    adm.submit("a0", {"course-a"}, "quarter")  # takes one placeholder's very slice
    assert adm.reserved() == {"Ascend 910B": Fraction(2, 4)}
    held = sum((g.share for g in adm.pool.grants.values() if g.holder.startswith("reservation:")), Fraction(0))
    assert held == Fraction(2, 4)


def test_a_reservation_for_a_flavor_the_site_dropped_holds_nothing_and_stops_nothing():
    """The site file changed under a stored reservation: the service must still load and schedule."""
    clock = FakeClock(1_700_000_000.0)
    adm = admission(clock)
    gone = Reservation("r-gone", "course-a", "gone", 2, clock.now, clock.now + HOUR, "t")
    adm.restore(None, [], [gone])
    adm.schedule()
    assert adm.reservation_use("r-gone", clock.now) == ReservationUse(0, 0, False) and adm.reserved() == {}
    assert adm.submit("a0", {"course-a"}, "quarter").state is State.GRANTED


def test_a_stored_waiting_request_for_a_model_the_pool_dropped_is_refused_on_restore():
    """The pool lost a device model while people waited for it: they are told, the rest is served."""
    clock = FakeClock(1_700_000_000.0)
    adm = admission(clock)
    lost = Request("w-lost", "a0", frozenset({"course-a"}), "old", "Ascend 310P", Fraction(1, 2), clock.now - 60,
                   seq=1)
    kept = Request("w-kept", "a1", frozenset({"course-a"}), "quarter", "Ascend 910B", Fraction(1, 4), clock.now - 30,
                   seq=2)
    adm.restore(CoreState(seq=2, session_mean=600.0), [lost, kept])
    adm.schedule()
    assert (lost.state, lost.reason) == (State.REFUSED, "pool_no_model") and "w-lost" in adm.dirty
    assert kept.state is State.GRANTED and adm.active_of("a0") == []
