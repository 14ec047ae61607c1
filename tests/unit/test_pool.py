"""Placement on the pool: never over-allocates, never splits a share, frees exactly what it took."""

from fractions import Fraction

import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from npuhub.pool import Grant, NoCapacity, NodeSpec, Pool, PoolError, Slice

MODEL = "Ascend 910B"
SHARES = [Fraction(1, 8), Fraction(1, 4), Fraction(1, 2), Fraction(3, 8), Fraction(1), Fraction(2),
          Fraction(4)]


def make_pool(nodes=2, devices=8):
    return Pool([NodeSpec(f"n{i}", MODEL, devices) for i in range(nodes)])


class PoolMachine(RuleBasedStateMachine):
    """Random sequences of place / release / restart against the invariants."""

    grants = Bundle("grants")

    def __init__(self):
        super().__init__()
        self.pool = make_pool(nodes=2, devices=4)

    @rule(target=grants, share=st.sampled_from(SHARES))
    def place(self, share):
        before = {key: self.pool.used(*key) for key in self._devices()}
        try:
            grant = self.pool.place("someone", MODEL, share)
        except NoCapacity:
            self._assert_really_full(share)
            return None
        # A fractional share sits on one device; whole devices are whole and on one node.
        if share < 1:
            assert len(grant.slices) == 1 and grant.slices[0].fraction == share
            (s,) = grant.slices
            if before[(s.node, s.device)] == 0:
                # it opened a fresh device only because no partly used device had room
                assert not any(0 < used <= 1 - share for used in before.values())
        else:
            assert len(grant.slices) == share
            assert len({s.node for s in grant.slices}) == 1
            assert len({s.device for s in grant.slices}) == len(grant.slices)
            assert all(s.fraction == 1 and before[(s.node, s.device)] == 0 for s in grant.slices)
        return grant

    @rule(grant=consumes(grants))
    def release(self, grant):
        if grant is None:
            return
        before = {key: self.pool.used(*key) for key in self._devices()}
        assert self.pool.release(grant.id) == grant
        for s in grant.slices:
            before[(s.node, s.device)] -= s.fraction
        assert before == {key: self.pool.used(*key) for key in self._devices()}
        assert self.pool.release(grant.id) is None  # twice is a no-op

    @rule()
    def restart(self):
        """A hub restart rebuilds the pool from recorded grants: same occupancy, nothing twice."""
        recorded = [Grant.from_dict(g.to_dict()) for g in self.pool.grants.values()]
        fresh = make_pool(nodes=2, devices=4)
        for grant in recorded:
            fresh.restore(grant)
            fresh.restore(grant)  # idempotent
        assert fresh.snapshot() == self.pool.snapshot()
        self.pool = fresh

    @invariant()
    def the_index_places_as_the_scan_does(self):
        """The indexed placement picks exactly the device (or node) the plain scan picks."""
        for share in SHARES:
            if share < 1:
                assert self.pool._find_fraction(MODEL, share) == self.pool._find_fraction_reference(MODEL, share)
            else:
                assert self.pool._find_whole(MODEL, int(share)) == self.pool._find_whole_reference(MODEL, int(share))
        assert self.pool.held(MODEL) == sum((self.pool.used(*key) for key in self._devices()), Fraction(0))

    @invariant()
    def never_over_allocated(self):
        for key in self._devices():
            assert 0 <= self.pool.used(*key) <= 1

    @invariant()
    def usage_is_the_sum_of_grants(self):
        total = {key: Fraction(0) for key in self._devices()}
        for grant in self.pool.grants.values():
            for s in grant.slices:
                total[(s.node, s.device)] += s.fraction
        assert total == {key: self.pool.used(*key) for key in self._devices()}

    def _devices(self):
        return [(name, d) for name, node in self.pool.nodes.items() for d in range(node.devices)]

    def _assert_really_full(self, share):
        if share < 1:
            assert all(1 - self.pool.used(*key) < share for key in self._devices())
        else:
            for name, node in self.pool.nodes.items():
                free = sum(1 for d in range(node.devices) if self.pool.used(name, d) == 0)
                assert free < share


TestPoolMachine = PoolMachine.TestCase
TestPoolMachine.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)


def test_small_shares_pack_onto_one_device():
    pool = make_pool(nodes=1, devices=8)
    grants = [pool.place(f"u{i}", MODEL, Fraction(1, 4)) for i in range(4)]
    assert {g.slices[0].device for g in grants} == {0}
    assert pool.place("big", MODEL, Fraction(7)).devices == [1, 2, 3, 4, 5, 6, 7]


def test_whole_devices_prefer_the_tightest_node():
    pool = make_pool(nodes=2, devices=4)
    pool.place("a", MODEL, Fraction(1, 8))  # n0 now has 3 whole devices free
    assert pool.place("b", MODEL, Fraction(3)).node == "n0"
    assert pool.place("c", MODEL, Fraction(4)).node == "n1"


def test_multi_device_never_spans_nodes():
    pool = make_pool(nodes=2, devices=4)
    pool.place("a", MODEL, Fraction(2))  # n0: 2 free, n1: 4 free
    pool.place("b", MODEL, Fraction(3))  # n1: 1 free
    with pytest.raises(NoCapacity):
        pool.place("c", MODEL, Fraction(3))  # 3 free in total, but never on one node


@given(st.lists(st.sampled_from(SHARES[:4]), max_size=40))
def test_fractions_fill_exactly_the_capacity(shares):
    pool = make_pool(nodes=1, devices=2)
    placed = Fraction(0)
    for share in shares:
        try:
            placed += pool.place("x", MODEL, share).share
        except NoCapacity:
            pass
    assert pool.held(MODEL) == placed <= pool.capacity(MODEL)


def test_restore_refuses_what_does_not_fit():
    pool = make_pool(nodes=1, devices=1)
    pool.place("a", MODEL, Fraction(3, 4))
    over = Grant("g1", "b", MODEL, Fraction(1, 2), (Slice("n0", 0, Fraction(1, 2)),))
    with pytest.raises(PoolError, match="over-full"):
        pool.restore(over)
    gone = Grant("g2", "b", MODEL, Fraction(1, 8), (Slice("n9", 0, Fraction(1, 8)),))
    with pytest.raises(PoolError, match="not in the pool"):
        pool.restore(gone)
    assert pool.held(MODEL) == Fraction(3, 4)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.sampled_from(SHARES + [Fraction(1, 3), Fraction(2, 3), Fraction(3)]),
                          st.sampled_from(["A", "B"]), st.integers(min_value=0, max_value=10**6)), max_size=80))
def test_indexed_placement_matches_the_scan_on_mixed_pools(steps):
    """Two models, nodes of different sizes, unequal shares: the index and the scan agree at every step."""
    pool = Pool([NodeSpec("n1", "A", 4), NodeSpec("n0", "A", 2), NodeSpec("m0", "B", 3), NodeSpec("n2", "A", 8)])
    live: list[str] = []
    for place, share, model, pick in steps:
        if not place and live:
            pool.release(live.pop(pick % len(live)))
            continue
        if share < 1:
            expected = pool._find_fraction_reference(model, share)
            assert pool._find_fraction(model, share) == expected
        else:
            expected = pool._find_whole_reference(model, int(share))
            assert pool._find_whole(model, int(share)) == expected
        try:
            grant = pool.place("u", model, share)
        except NoCapacity:
            assert expected is None
            continue
        assert list(grant.slices) == expected
        live.append(grant.id)
    for model in ("A", "B"):
        assert pool.held(model) == sum((u for (n, _), u in pool._used.items() if pool.nodes[n].model == model),
                                       Fraction(0))


def test_unknown_model_is_an_error():
    with pytest.raises(PoolError):
        make_pool().place("a", "H100", Fraction(1))
