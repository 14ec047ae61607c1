"""The admission core under random workloads: never over-grants, honours limits, budgets and reservations."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from npuhub.admission.core import Admission
from npuhub.admission.fairshare import FairShare
from npuhub.admission.model import Refused, State
from npuhub.admission.quota import Budgets, QuotaRule
from npuhub.site_config import parse_site_config
from support.doubles import FakeClock
from support.sites import flavor, make_site

SITE = parse_site_config(make_site(
    nodes=2, devices_per_node=2,
    groups={"course-a": {"kind": "course"}, "course-b": {"kind": "course"}, "lab-x": {"kind": "lab"}},
    flavors=[flavor("cpu"), flavor("eighth", "1/8"), flavor("quarter", "1/4"), flavor("half", "1/2"),
             flavor("one", 1, groups=["lab-x"]), flavor("two", 2, groups=["lab-x"])],
    limits={"max_share": "1/2", "groups": {"lab-x": {"max_share": 2}}},
))
USERS = {f"a{i}": {"course-a"} for i in range(4)} | {f"b{i}": {"course-b"} for i in range(4)} | \
    {f"x{i}": {"lab-x"} for i in range(3)}


NOW = 1_700_000_000.0


class AdmissionMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.clock = FakeClock(NOW)
        budgets = Budgets(rules=[QuotaRule("user", frozenset({"course-a", "course-b"}), Fraction(2), "week")])
        self.adm = Admission(SITE, self.clock, budgets=budgets)
        self.refusals: list[str] = []
        self.counter = 0

    @rule(user=st.sampled_from(sorted(USERS)), flavor=st.sampled_from(["cpu", "eighth", "quarter", "half", "one", "two"]))
    def submit(self, user, flavor):
        before = {u: self.adm.held_by(u, include_waiting=True) for u in USERS}
        self.counter += 1
        try:
            decision = self.adm.submit(user, USERS[user], flavor, request_id=f"r{self.counter:04d}")
        except Refused as e:
            assert e.reason in {"share_limit", "quota_spent", "flavor_not_allowed"}
            self.refusals.append(e.reason)
            # a refusal holds nothing
            assert {u: self.adm.held_by(u, include_waiting=True) for u in USERS} == before
            return
        assert decision.state in (State.GRANTED, State.WAITING)
        if decision.state is State.WAITING:
            assert decision.position >= 1

    @precondition(lambda self: self.adm.granted())
    @rule(data=st.data())
    def release(self, data):
        req = data.draw(st.sampled_from(sorted(self.adm.granted(), key=lambda r: r.id)))
        self.adm.release(req.id)
        assert req.state is State.RELEASED

    @precondition(lambda self: self.adm.waiting())
    @rule(data=st.data())
    def cancel(self, data):
        req = data.draw(st.sampled_from(sorted(self.adm.waiting(), key=lambda r: r.id)))
        self.adm.cancel(req.id)
        assert req.state is State.CANCELLED

    @rule(seconds=st.integers(min_value=1, max_value=4 * 3600))
    def time_passes(self, seconds):
        self.clock.now += seconds
        self.adm.meter()

    @invariant()
    def pool_holds_exactly_the_grants(self):
        held = sum((r.share for r in self.adm.granted() if r.grant), Fraction(0))
        assert self.adm.pool.held("Ascend 910B") == held <= self.adm.pool.capacity("Ascend 910B")
        for (node, device) in self.adm.pool._used:
            assert 0 <= self.adm.pool.used(node, device) <= 1

    @invariant()
    def limits_hold(self):
        for user, groups in USERS.items():
            assert self.adm.held_by(user, include_waiting=True) <= SITE.limits.max_share_for(groups)

    @invariant()
    def every_request_is_listed_where_its_state_says(self):
        """What granted() and queue() list agrees with each request's own state, no more, no less."""
        granted = [r.id for r in self.adm.granted()]
        queued = [r.id for r in self.adm.queue()]
        assert len(set(granted)) == len(granted) and len(set(queued)) == len(queued)
        assert set(granted) == {r.id for r in self.adm.requests.values() if r.state is State.GRANTED}
        assert set(queued) == {r.id for r in self.adm.requests.values() if r.state is State.WAITING}
        for req in self.adm.requests.values():
            if req.state is State.GRANTED and req.share:
                assert req.grant is not None and req.grant.share == req.share
            if req.state.final:
                assert req.reason

    @invariant()
    def the_head_of_the_queue_does_not_fit(self):
        """Work-conserving: nothing waits at the front that the pool could place now."""
        queue = self.adm.queue()
        if queue:
            head = queue[0]
            probe = self.adm.pool.place("probe", head.model, head.share) if self._fits(head) else None
            if probe:
                self.adm.pool.release(probe.id)
            assert probe is None

    def _fits(self, req):
        from npuhub.pool import NoCapacity
        try:
            grant = self.adm.pool.place("probe", req.model, req.share)
        except NoCapacity:
            return False
        self.adm.pool.release(grant.id)
        return True


TestAdmission = AdmissionMachine.TestCase
TestAdmission.settings = settings(max_examples=120, stateful_step_count=40, deadline=None)


def test_quota_spent_is_refused_with_a_retry_time():
    clock = FakeClock(NOW)
    budgets = Budgets(rules=[QuotaRule("user", frozenset({"course-a"}), Fraction(1, 10), "day")])
    adm = Admission(SITE, clock, budgets=budgets)
    first = adm.submit("a0", {"course-a"}, "half")
    clock.now += 3600  # 1/2 device for an hour = 0.5 device-hours > 0.1
    assert adm.meter() == [adm.requests[first.request]]  # the running session's budget is spent
    adm.release(first.request)
    with pytest.raises(Refused) as refused:
        adm.submit("a0", {"course-a"}, "eighth")
    assert refused.value.reason == "quota_spent"
    assert refused.value.retry_at > clock.now
    # charged exactly what was used: 1/2 device x 3600 s
    ledger = [e for e in budgets.pending if e["kind"] == "charge"]
    assert sum(-e["amount"] for e in ledger) == Fraction(1800)
    clock.now = refused.value.retry_at  # the budget renews at the next period
    assert adm.submit("a0", {"course-a"}, "eighth").state is State.GRANTED


def test_positions_and_estimates_move_as_the_queue_moves():
    clock = FakeClock(NOW)
    adm = Admission(SITE, clock)
    whole = [adm.submit(f"x{i % 3}", {"lab-x"}, "one") for i in range(4)]
    assert all(d.state is State.GRANTED for d in whole)
    waiting = [adm.submit(u, {"course-a"}, "quarter") for u in ("a0", "a1", "a2")]
    assert [d.position for d in waiting] == [1, 2, 3]
    assert all(d.eta is not None and d.eta > clock.now for d in waiting)
    adm.cancel(waiting[0].request)
    assert adm.decision(waiting[1].request).position == 1
    clock.now += 60
    adm.release(whole[0].request)
    assert adm.decision(waiting[1].request).state is State.GRANTED
    assert adm.decision(waiting[2].request).state is State.GRANTED  # two quarters fit on the freed device


def test_reservation_holds_slices_for_the_class_then_lends_them():
    clock = FakeClock(NOW)
    adm = Admission(SITE, clock)
    res = adm.reserve("course-a", "quarter", 4, clock.now, clock.now + 7200, "teacher", hold=600)
    # others cannot take the held device ...
    others = [adm.submit(user, {"lab-x"}, "one") for user in ("x0", "x1", "x2", "x0")]
    assert [d.state for d in others] == [State.GRANTED, State.GRANTED, State.GRANTED, State.WAITING]
    # ... but the class can, at once, and on the very slices held for it
    students = [adm.submit(f"a{i}", {"course-a"}, "quarter") for i in range(4)]
    assert all(d.state is State.GRANTED for d in students)
    assert all(adm.requests[d.request].reservation == res.id for d in students)
    # unused reserved slices are lent after the hold
    for d in students[:2]:
        adm.release(d.request)
    clock.now += 601
    adm.schedule()
    assert adm.requests[others[3].request].state is State.WAITING  # half a device free is not a whole one
    use = adm.reservation_use(res.id, clock.now)
    assert use.held == 0 and use.lent and use.in_use == 2


def test_fair_share_converges_to_weights():
    """Two groups with weights 1 and 3 under constant contention get about 1/4 and 3/4 of the pool."""
    import random

    rng = random.Random(7)
    clock = FakeClock(NOW)
    fairshare = FairShare(half_life=2 * 3600, weights={"group:course-a": 1.0, "group:course-b": 3.0})
    budgets = Budgets(rules=[QuotaRule("group", frozenset({"course-a", "course-b"}), Fraction(10**6), "month")])
    adm = Admission(SITE, clock, budgets=budgets, fairshare=fairshare)
    length = {}
    for step in range(24 * 60):  # a day, minute by minute
        # 16 people asking for 1/2 each, twice what 4 devices hold; each asks again as soon as done
        for group, prefix in (("course-a", "a"), ("course-b", "b")):
            for i in range(8):
                user = f"{prefix}{i}"
                if adm.held_by(user, include_waiting=True) == 0:
                    decision = adm.submit(user, {group}, "half")
                    length[decision.request] = rng.randint(5, 20) * 60
        clock.now += 60
        adm.meter()
        for req in adm.granted():
            if clock.now - req.granted_at >= length[req.id]:
                adm.release(req.id)
    usage = fairshare.snapshot(clock.now)
    share_a = usage["group:course-a"] / (usage["group:course-a"] + usage["group:course-b"])
    assert 0.18 < share_a < 0.32, share_a  # measured 0.255 for weights 1:3
