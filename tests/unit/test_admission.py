"""The admission core under random workloads: never over-grants, honours limits, budgets and reservations."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import event, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from npuhub.admission.core import Admission
from npuhub.admission.estimates import FluidInput, Running, estimate_starts
from npuhub.admission.fairshare import FairShare
from npuhub.admission.model import Refused, State
from npuhub.admission.quota import Budgets, QuotaRule
from npuhub.service.models import ended_text
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
COURSES = frozenset({"course-a", "course-b"})
#: small daily budgets, spent within a few steps and renewed within a run: each course member 1/2 device-hour,
#: lab-x 2 shared by its members
RULES = [QuotaRule("user", COURSES, Fraction(1, 2), "day"), QuotaRule("group", frozenset({"lab-x"}), Fraction(2), "day")]
FLAVORS = ["cpu", "eighth", "quarter", "half", "one", "two"]
#: mostly what her groups may ask for, sometimes what they may not
ASKS = st.one_of(
    st.tuples(st.sampled_from(sorted(u for u in USERS if u[0] != "x")), st.sampled_from(FLAVORS[:4])),
    st.tuples(st.sampled_from(sorted(u for u in USERS if u[0] == "x")), st.sampled_from(FLAVORS)),
    st.tuples(st.sampled_from(sorted(USERS)), st.sampled_from(FLAVORS)),
)


class NoFairShare(FairShare):
    """Fair share that never learns usage: the queue is then served by arrival (reserved first)."""

    def add(self, account, device_seconds, now):
        pass


class AdmissionMachine(RuleBasedStateMachine):
    """Random submits, releases, cancels, reservations and time; every invariant is checked after each step.

    Each rule first records what the step starts from (``_mark``), so that the
    invariants can say what the step changed: who was granted, on which slices.
    """

    fairshare = FairShare

    def __init__(self):
        super().__init__()
        self.clock = FakeClock(NOW)
        self.budgets = Budgets(rules=list(RULES))
        self.adm = Admission(SITE, self.clock, budgets=self.budgets, fairshare=self.fairshare())
        self.refusals: list[str] = []
        self.counter = 0
        self._mark()

    # -- what a step starts from -------------------------------------------------------
    def _mark(self):
        adm = self.adm
        self.granted_before = {r.id for r in adm.granted()}
        self.queue_before = [r.id for r in adm.queue()]
        # slices a reservation may give its members: its placeholders', and its members' (returned on release)
        self.reserved_slices: dict[str, set] = {}
        self.holding_before = {}
        for grant in adm.pool.grants.values():
            if grant.holder.startswith("reservation:"):
                res_id = grant.holder.split(":", 1)[1]
                self.reserved_slices.setdefault(res_id, set()).update(grant.slices)
                self.holding_before[res_id] = self.holding_before.get(res_id, 0) + 1
        for req in adm.granted():
            if req.reservation:
                self.reserved_slices.setdefault(req.reservation, set()).update(req.grant.slices)
                self.holding_before[req.reservation] = self.holding_before.get(req.reservation, 0) + 1

    def _newly_granted(self):
        return [r for r in self.adm.granted() if r.id not in self.granted_before]

    # -- rules ------------------------------------------------------------------------------
    @rule(ask=ASKS)
    def submit(self, ask):
        self._mark()
        self._submit(*ask)

    @rule(asks=st.lists(ASKS, min_size=2, max_size=6))
    def rush(self, asks):
        """Several ask in a row (a class starts): the pool fills and a queue forms; checked after each."""
        for ask in asks:
            self._mark()
            self._submit(*ask)
            for check in (self.grants_only_with_budget_left, self.charges_are_share_times_time,
                          self.members_take_held_slices_inside_the_window,
                          self.backfill_never_delays_the_head_beyond_the_slack):
                check()

    def _submit(self, user, flavor):
        adm, groups = self.adm, USERS[user]
        before = {u: adm.held_by(u, include_waiting=True) for u in USERS}
        expected = self._shortfall(user, groups, flavor)
        self.counter += 1
        try:
            decision = adm.submit(user, groups, flavor, request_id=f"r{self.counter:04d}")
        except Refused as e:
            # every refusal is justified: the limit or a balance recomputed here falls short, as it says
            assert e.reason == expected, (e.reason, expected)
            self.refusals.append(e.reason)
            event(f"refused: {e.reason}")
            # a refusal holds nothing
            assert {u: adm.held_by(u, include_waiting=True) for u in USERS} == before
            return
        assert expected is None, f"{user} was given {flavor} although {expected}"
        assert decision.state in (State.GRANTED, State.WAITING)
        if decision.state is State.WAITING:
            assert decision.position >= 1

    def _shortfall(self, user, groups, flavor_id):
        """Why a request must be refused, recomputed from the site file and the balances (None: it may not be)."""
        flavor = SITE.catalogue.get(flavor_id)
        if flavor_id not in {f.id for f in SITE.catalogue.for_groups(groups)}:
            return "flavor_not_allowed"
        if not flavor.share:
            return None
        if self.adm.held_by(user, include_waiting=True) + flavor.share > SITE.limits.max_share_for(set(groups)):
            return "share_limit"
        charge_group = "lab-x" if "lab-x" in groups else None  # the only group with a group budget
        if any(a.balance <= 0 for a in self.adm.accounts_of(user, groups, charge_group, self.clock.now)):
            return "quota_spent"
        return None

    @precondition(lambda self: self.adm.granted())
    @rule(data=st.data())
    def release(self, data):
        self._mark()
        req = data.draw(st.sampled_from(sorted(self.adm.granted(), key=lambda r: r.id)))
        self.adm.release(req.id)
        assert req.state is State.RELEASED

    @precondition(lambda self: self.adm.waiting())
    @rule(data=st.data())
    def cancel(self, data):
        self._mark()
        req = data.draw(st.sampled_from(sorted(self.adm.waiting(), key=lambda r: r.id)))
        self.adm.cancel(req.id)
        assert req.state is State.CANCELLED

    # minutes (sessions granted lately hold the head back: back-fill), or hours (budgets run out)
    @rule(seconds=st.one_of(st.integers(min_value=1, max_value=600), st.integers(min_value=1, max_value=4 * 3600)))
    def time_passes(self, seconds):
        self._mark()
        self.clock.now += seconds
        self.adm.meter()  # the service's tick: meter, then schedule (the order may have changed)
        self.adm.schedule()

    # one reservation at a time, for course-a: two windows would make the queue's order depend on both
    @precondition(lambda self: not self.adm.reservations)
    @rule(flavor=st.sampled_from(["eighth", "quarter"]), count=st.integers(1, 4),
          starts_in=st.one_of(st.just(0), st.integers(0, 2 * 3600)), length=st.integers(600, 3 * 3600), hold=st.integers(60, 1800))
    def reserve(self, flavor, count, starts_in, length, hold):
        self._mark()
        starts = self.clock.now + starts_in
        self.adm.reserve("course-a", flavor, count, starts, starts + length, "teacher", hold=hold)

    @precondition(lambda self: self.adm.reservations)
    @rule()
    def cancel_reservation(self):
        self._mark()
        self.adm.cancel_reservation(next(iter(self.adm.reservations)))

    # -- invariants -------------------------------------------------------------------------
    @invariant()
    def grants_only_with_budget_left(self):
        """A slice is granted only while every account the request draws on has budget left."""
        now = self.clock.now
        for req in self._newly_granted():
            if req.share:
                accounts = self.adm.accounts_of(req.user, req.groups, req.charge_group, now)
                assert all(a.balance > 0 for a in accounts), (req.id, [(a.name, a.balance) for a in accounts])
                if accounts and req.id in self.queue_before:
                    event("a waiting request granted on a budget")

    @invariant()
    def charges_are_share_times_time(self):
        """Each request is charged its share x the seconds it held its slice, once on each of its accounts."""
        ledger: dict[tuple[str, str], Fraction] = {}
        for entry in self.budgets.pending:
            if entry["kind"] == "charge":
                key = (entry["request"], entry["account"])
                ledger[key] = ledger.get(key, Fraction(0)) - entry["amount"]
        for req in self.adm.requests.values():
            assert SITE.catalogue.get(req.flavor).device_hours_per_hour == req.share  # no prices in this site
            held = 0
            if req.granted_at is not None:
                held = (self.clock.now if req.state is State.GRANTED else req.ended_at) - req.granted_at
            # whole seconds on the fake clock, so whole milliseconds: exact
            expected = req.share * Fraction(int(held))
            assert req.charged == expected, (req.id, req.charged, expected)
            accounts = ({f"user:{req.user}"} if req.groups & COURSES else set()) | \
                ({"group:lab-x"} if "lab-x" in req.groups else set())
            charged = {acct: amount for (rid, acct), amount in ledger.items() if rid == req.id}
            assert charged == ({acct: expected for acct in accounts} if expected else {}), (req.id, charged)

    @invariant()
    def members_take_held_slices_inside_the_window(self):
        """A member's grant on a reservation is inside its window, for its group and flavor, on slices it held.

        A reservation never holds more than its count (members' sessions plus
        placeholders), so a member placed on fresh slices beside the held ones
        fails; when it held as many slices before the step as after, a member
        granted in the step took exactly some of those.
        """
        now = self.clock.now
        holding = {}
        for res in self.adm.reservations.values():
            use = self.adm.reservation_use(res.id, now)
            holding[res.id] = use.in_use + use.held
            assert holding[res.id] <= res.count, (res, use)
        for req in self._newly_granted():
            if req.reservation is None:
                continue
            res = self.adm.reservations[req.reservation]
            assert res.starts <= req.granted_at < res.ends
            assert res.group in req.groups and res.flavor == req.flavor
            if holding[res.id] <= self.holding_before.get(res.id, 0):
                assert set(req.grant.slices) <= self.reserved_slices.get(res.id, set()), req.id
            event("a member granted on a reservation")

    @invariant()
    def backfill_never_delays_the_head_beyond_the_slack(self):
        """A request granted past the blocked head ends (expectedly) before the head's start + backfill_slack.

        The head's start is estimated as the core does when it finds the head
        blocked: the head alone, on the pool as it was before the back-fill.
        """
        adm, now = self.adm, self.clock.now
        queue = adm.queue()
        if not queue or self.fairshare is not NoFairShare:
            return  # with fair share learning usage, which request was behind the head is the core's secret
        head = queue[0]

        def behind_head(req):
            if adm.reserved_for(head, now) != adm.reserved_for(req, now):
                return adm.reserved_for(head, now)
            return req.seq > head.seq

        backfilled = [r for r in self._newly_granted()
                      if r.share and r.reservation is None and behind_head(r)]
        if not backfilled:
            return
        inp = adm.fluid_input(now)
        free = dict(inp.free)
        for r in backfilled:
            free[r.model] += float(r.share)
        running = list(inp.running)
        for r in backfilled:  # exactly one running session per back-filled request (others may look alike)
            running.remove(Running(r.model, float(r.share), r.granted_at))
        before = FluidInput(inp.session_mean, free, inp.capacity, tuple(running), inp.held)
        head_start = estimate_starts(before, [head], now)[head.id]
        assert head_start is not None
        event("back-fill past a blocked head")
        for r in backfilled:
            assert adm.expected_end(r, now) <= head_start + adm.backfill_slack, (r.id, head.id)

    @invariant()
    def pool_holds_exactly_the_grants(self):
        held = sum((r.share for r in self.adm.granted() if r.grant), Fraction(0))
        held += self.adm.reserved().get("Ascend 910B", Fraction(0))  # reservations' placeholders
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


class ArrivalOrderMachine(AdmissionMachine):
    """The same, with the queue served by arrival, so the back-fill bound can be checked from outside."""

    fairshare = NoFairShare


TestAdmission = AdmissionMachine.TestCase
TestAdmission.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestAdmissionInArrivalOrder = ArrivalOrderMachine.TestCase
TestAdmissionInArrivalOrder.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)


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
    # charged exactly what was used: 1/2 device x 3600 s
    ledger = [e for e in budgets.pending if e["kind"] == "charge"]
    assert sum(-e["amount"] for e in ledger) == Fraction(1800)
    # By hand: 360 device-seconds a day, 1800 spent: -1440 left on 2023-11-14. Each midnight (UTC) adds
    # 360: -1080, -720, -360, 0 (still nothing left), then +360 on 2023-11-19 00:00 UTC, when she may go on.
    renews = 1_700_352_000.0  # 2023-11-19T00:00:00Z
    assert refused.value.retry_at == renews
    said = refused.value.text  # the sentence she reads says that very time, in both languages
    assert said.en.endswith("It renews at 2023-11-19 00:00 UTC; try again then.")
    assert "2023-11-19 00:00 UTC" in said.zh
    clock.now = renews - 1  # a second before, still refused, with the same time
    with pytest.raises(Refused) as again:
        adm.submit("a0", {"course-a"}, "eighth")
    assert again.value.retry_at == renews
    clock.now = renews
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


def test_a_request_whose_budget_ran_out_while_it_waited_is_refused_not_granted():
    """Found by grants_only_with_budget_left: the quota was checked on arrival only, so a request that
    waited while her running session spent her budget was granted a slice with nothing left to pay for it."""
    clock = FakeClock(NOW)
    budgets = Budgets(rules=[QuotaRule("user", COURSES, Fraction(1), "week")])
    adm = Admission(SITE, clock, budgets=budgets)
    # 4 devices: 2 + 1 + 1/2 + 1/4 + 1/4 fill them; her second quarter waits
    for user, groups, flavor_id in [("x0", {"lab-x"}, "two"), ("x1", {"lab-x"}, "one"),
                                    ("a1", {"course-a"}, "half"), ("a0", {"course-a"}, "quarter"),
                                    ("a2", {"course-a"}, "quarter")]:
        assert adm.submit(user, groups, flavor_id).state is State.GRANTED
    second = adm.submit("a0", {"course-a"}, "quarter", request_id="second")
    assert second.state is State.WAITING
    clock.now += 4 * 3600  # her running quarter spends her device-hour (1/4 x 4 h)
    adm.meter()
    assert [a.balance for a in adm.accounts_of("a0", {"course-a"}, None, clock.now)] == [0]
    adm.release(adm.holdings("x1")[0].id)  # a whole device comes free
    assert adm.requests["second"].state is State.REFUSED
    assert adm.requests["second"].reason == "quota_spent"
    said = ended_text(adm.requests["second"])  # what her spawn page says: a sentence of its own, filled in
    assert "ran out while you waited" in said.en and "排队期间" in said.zh and "{" not in said.en + said.zh
    assert adm.holdings("a0") == [adm.holdings("a0")[0]] and adm.held_by("a0") == Fraction(1, 4)
