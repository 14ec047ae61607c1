"""The admission's fast paths against the plain reference algorithms, in lockstep on random workloads.

``ReferenceAdmission`` is the admission core with the simple implementations
the fast ones replaced: placement by scanning every device, positions and
estimates re-simulated from scratch over the queue (``estimate_starts``), the
head's estimate simulated alone, held shares and granted requests found by
scanning every request. Both run the same random sequence of submits,
cancels, releases, reservations and clock moves (small ones, so the kept
simulation is re-read at a later time, and large ones, so sessions become
overdue), and must agree on every grant (the very slices), every position and
every estimate, to the bit.
"""

from __future__ import annotations

from fractions import Fraction

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from npuhub.admission.core import Admission
from npuhub.admission.estimates import estimate_starts
from npuhub.admission.model import Decision, Refused, State
from npuhub.admission.quota import Budgets, QuotaRule
from npuhub.pool import Pool
from npuhub.site_config import parse_site_config
from support.doubles import FakeClock
from support.sites import flavor, make_site, pool_of

SITE = parse_site_config(make_site(
    pool=[pool_of(2, 2), pool_of(1, 1, model="Ascend 310P", node_prefix="p")],
    groups={"course-a": {"kind": "course"}, "course-b": {"kind": "course"}, "lab-x": {"kind": "lab"}},
    flavors=[flavor("cpu"), flavor("eighth", "1/8"), flavor("third", "1/3"), flavor("quarter", "1/4"),
             flavor("half", "1/2"), flavor("small", "1/2", model="Ascend 310P"),
             flavor("one", 1, groups=["lab-x"]), flavor("two", 2, groups=["lab-x"])],
    limits={"max_share": 1, "groups": {"lab-x": {"max_share": 3}}},
))
NOW = 1_700_000_000.0
FLAVORS = ["cpu", "eighth", "third", "quarter", "half", "small", "one", "two"]
USERS = {f"a{i}": {"course-a"} for i in range(6)} | {f"b{i}": {"course-b"} for i in range(6)} | \
    {f"x{i}": {"lab-x"} for i in range(3)}


class ReferencePool(Pool):
    """Placement by scanning every device, as before the index."""

    def _find_fraction(self, model, share):
        return self._find_fraction_reference(model, share)

    def _find_whole(self, model, count):
        return self._find_whole_reference(model, count)


class ReferenceAdmission(Admission):
    """The admission with the plain algorithms the fast paths must reproduce."""

    def __post_init__(self):
        super().__post_init__()
        self.pool = ReferencePool(self.site.nodes)

    def granted(self):
        return [r for r in self.requests.values() if r.state is State.GRANTED]

    def held_by(self, user, include_waiting=False):
        states = (State.GRANTED, State.WAITING) if include_waiting else (State.GRANTED,)
        return sum((r.share for r in self.requests.values() if r.user == user and r.state in states), Fraction(0))

    def positions(self):
        now = self.clock()
        order = self.queue()
        starts = estimate_starts(self.fluid_input(now), order, now)
        seen, out = {}, {}
        for r in order:
            seen[r.model] = seen.get(r.model, 0) + 1
            out[r.id] = Decision(r.id, State.WAITING, position=seen[r.model], eta=starts.get(r.id))
        return out

    def decision(self, request_id):
        req = self.requests[request_id]
        if req.state is not State.WAITING:
            return Decision(req.id, req.state, reason=req.reason)
        order = self.queue()
        index = next(i for i, r in enumerate(order) if r.id == req.id)
        ahead = order[: index + 1]
        position = sum(1 for r in ahead if r.model == req.model)
        eta = estimate_starts(self.fluid_input(self.clock()), ahead, self.clock()).get(req.id)
        return Decision(req.id, State.WAITING, position=position, eta=eta)

    def _estimate_head(self, req, now, changed):
        return estimate_starts(self.fluid_input(now), [req], now).get(req.id)


def _grants(adm):
    return sorted((r.id, r.grant.holder, r.grant.model, r.grant.share, r.grant.slices)
                  for r in adm.requests.values() if r.state is State.GRANTED and r.grant is not None)


def _ledger(adm):
    return [{k: v for k, v in e.items()} for e in adm.budgets.pending]


class Lockstep(RuleBasedStateMachine):
    @initialize(session=st.sampled_from([30.0, 300.0, 3600.0]))
    def start(self, session):
        self.clock = FakeClock(NOW)
        self.counter = 0

        def make(cls):
            budgets = Budgets(rules=[QuotaRule("user", frozenset({"course-a", "course-b"}), Fraction(50), "week")])
            return cls(SITE, self.clock, budgets=budgets, default_session=session)

        self.fast, self.ref = make(Admission), make(ReferenceAdmission)

    def both(self, fn):
        outcomes = []
        for adm in (self.fast, self.ref):
            try:
                outcomes.append(("ok", fn(adm)))
            except Refused as e:
                outcomes.append(("refused", e.reason, e.detail, e.retry_at))
        assert outcomes[0] == outcomes[1]
        return outcomes[0]

    @rule(user=st.sampled_from(sorted(USERS)), flavor=st.sampled_from(FLAVORS), repeat=st.integers(1, 4))
    def submit(self, user, flavor, repeat):
        for _ in range(repeat):
            self.counter += 1
            rid = f"r{self.counter:04d}"
            self.both(lambda adm: adm.submit(user, USERS[user], flavor, request_id=rid))

    @precondition(lambda self: self.ref.waiting())
    @rule(data=st.data())
    def cancel(self, data):
        req = data.draw(st.sampled_from(sorted(r.id for r in self.ref.waiting())))
        self.both(lambda adm: adm.cancel(req).state)

    @precondition(lambda self: self.ref.granted())
    @rule(data=st.data())
    def release(self, data):
        req = data.draw(st.sampled_from(sorted(r.id for r in self.ref.granted())))
        self.both(lambda adm: adm.release(req).state)

    @rule(seconds=st.one_of(st.floats(0.001, 5.0), st.floats(5.0, 900.0), st.integers(1, 4 * 3600)),
          meter=st.booleans())
    def time_passes(self, seconds, meter):
        self.clock.now += seconds
        if meter:
            self.both(lambda adm: [r.id for r in adm.meter()])

    @rule(group=st.sampled_from(["course-a", "course-b"]), flavor=st.sampled_from(["quarter", "half"]),
          count=st.integers(1, 4), starts_in=st.integers(0, 1800), hold=st.sampled_from([0, 60, 600]))
    def reserve(self, group, flavor, count, starts_in, hold):
        self.counter += 1
        rid = f"res{self.counter:04d}"
        now = self.clock.now
        self.both(lambda adm: adm.reserve(group, flavor, count, now + starts_in, now + starts_in + 3600,
                                          "teacher", hold=hold, reservation_id=rid))

    @precondition(lambda self: self.ref.reservations)
    @rule(data=st.data())
    def cancel_reservation(self, data):
        rid = data.draw(st.sampled_from(sorted(self.ref.reservations)))
        self.both(lambda adm: adm.cancel_reservation(rid))

    @rule()
    def schedule(self):
        self.both(lambda adm: sorted(r.id for r in adm.schedule()))

    @invariant()
    def same_state(self):
        if not hasattr(self, "fast"):
            return
        assert _grants(self.fast) == _grants(self.ref)
        assert self.fast.pool.snapshot() == self.ref.pool.snapshot()
        assert [r.id for r in self.fast.granted()] == [r.id for r in self.ref.granted()]
        assert [r.id for r in self.fast.queue()] == [r.id for r in self.ref.queue()]
        assert self.fast.positions() == self.ref.positions()
        for req in self.ref.waiting():
            assert self.fast.decision(req.id) == self.ref.decision(req.id)
        for user in USERS:
            assert self.fast.held_by(user, True) == self.ref.held_by(user, True)
            assert self.fast.held_by(user) == self.ref.held_by(user)
        assert _ledger(self.fast) == _ledger(self.ref)

    @invariant()
    def same_estimates_later(self):
        """Re-read as the clock moves on without a change: the kept simulation must match a fresh run."""
        if not hasattr(self, "fast"):
            return
        start = self.clock.now
        for delta in (0.25, 3.0, 20.0, 90.0, 700.0):
            self.clock.now = start + delta
            assert self.fast.positions() == self.ref.positions()
        self.clock.now = start


TestLockstep = Lockstep.TestCase
TestLockstep.settings = settings(max_examples=200, stateful_step_count=50, deadline=None)


def test_a_request_joining_at_the_tail_extends_the_kept_simulation():
    """Joining behind 200 others re-uses the simulation: no re-run over the queue, same answer."""
    clock = FakeClock(NOW)
    adm = Admission(SITE, clock, default_session=600.0)
    for i in range(16):
        adm.submit(f"x{i % 3}", {"lab-x"}, "quarter", request_id=f"g{i}")
    for i in range(200):
        clock.now += 0.01
        adm.submit(f"a{i}", {"course-a"}, "quarter", request_id=f"w{i}")
    adm.positions()
    runs = adm.stats.simulations
    clock.now += 5
    decision = adm.submit("b0", {"course-b"}, "quarter", request_id="last")
    assert adm.stats.simulations == runs  # extended, not re-run
    reference = estimate_starts(adm.fluid_input(clock.now), adm.queue(), clock.now)
    assert decision.position == 201 and decision.eta == reference["last"]
    assert adm.positions() == ReferenceAdmission.positions(adm)


def test_the_kept_simulation_of_a_mixed_queue_matches_the_reference_as_the_clock_moves():
    """Mixed shares behind sessions half overdue (ends that move with the clock) and half at fixed times.

    A request here often waits for several ends, from either kind, so the
    kept simulation's pops and pushes cross between its two heaps.
    """
    clock = FakeClock(NOW)
    start = clock.now
    adm = Admission(SITE, clock, default_session=600.0)
    for i in range(16):
        clock.now = start + (5 * i if i < 8 else 300 + 10 * i)
        adm.submit(f"g{i}", {"course-a"}, "quarter", request_id=f"g{i}")
    clock.now = start + 650
    for i in range(60):
        adm.submit(f"a{i}", {"course-a"}, ["eighth", "quarter", "third", "half"][i * 7 % 4], request_id=f"w{i}")
    for _ in range(480):
        clock.now += 0.5
        assert adm.positions() == ReferenceAdmission.positions(adm)
