"""The pool when nodes change under it (a cluster): added, resized, cordoned, removed.

Checked step for step by a hypothesis state machine: capacity is never
negative, nothing new lands on a cordoned node or a draining device, what is
held on placeable devices never exceeds capacity, and what is held elsewhere
(cordoned, draining) is counted apart, never lost.
"""

from fractions import Fraction

import pytest
from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from npuhub.pool import Grant, NoCapacity, NodeSpec, Pool, PoolError, Slice

MODEL = "Ascend 910B"
SHARES = [Fraction(1, 4), Fraction(1, 2), Fraction(1), Fraction(2)]
NAMES = ["a", "b", "c"]


def test_a_declared_model_exists_with_no_node_yet():
    pool = Pool([], {MODEL: "ascend"}, dynamic=True)
    assert pool.models == {MODEL: "ascend"} and pool.capacity(MODEL) == 0
    with pytest.raises(NoCapacity):
        pool.place("x", MODEL, Fraction(1, 4))
    pool.upsert_node(NodeSpec("a", MODEL, 2))
    assert pool.capacity(MODEL) == 2
    assert pool.place("x", MODEL, Fraction(1, 4)).node == "a"


def test_a_cordoned_node_keeps_its_grants_and_takes_no_new_one():
    pool = Pool([NodeSpec("a", MODEL, 1), NodeSpec("b", MODEL, 1)], dynamic=True)
    first = pool.place("x", MODEL, Fraction(1, 4))
    pool.upsert_node(NodeSpec(first.node, MODEL, 1, schedulable=False))
    assert first.id in pool.grants
    assert pool.capacity(MODEL) == 1 and pool.held(MODEL) == 0 and pool.held_apart(MODEL) == Fraction(1, 4)
    other = pool.place("y", MODEL, Fraction(1, 4))
    assert other.node != first.node
    with pytest.raises(NoCapacity):
        pool.place("z", MODEL, Fraction(1))
    pool.release(first.id)
    assert pool.held_apart(MODEL) == 0
    pool.upsert_node(NodeSpec(first.node, MODEL, 1))  # uncordoned: its device serves again
    assert pool.place("z", MODEL, Fraction(1)).node == first.node


def test_devices_beyond_a_smaller_count_drain_then_disappear():
    pool = Pool([NodeSpec("a", MODEL, 2)], dynamic=True)
    whole = pool.place("x", MODEL, Fraction(2))
    pool.upsert_node(NodeSpec("a", MODEL, 1))
    assert pool.capacity(MODEL) == 1 and pool.held(MODEL) == 1 and pool.held_apart(MODEL) == 1
    assert pool.node_devices("a") == [0, 1]
    pool.release(whole.id)
    assert pool.node_devices("a") == [0] and pool.held_apart(MODEL) == 0
    # after a restart, a grant on a device beyond the count is restored as draining, not refused
    again = Pool([NodeSpec("a", MODEL, 1)], dynamic=True)
    again.restore(whole)
    assert again.held_apart(MODEL) == 1 and again.held(MODEL) == 1
    static = Pool([NodeSpec("a", MODEL, 1)])
    with pytest.raises(PoolError):
        static.restore(whole)


def test_a_node_with_grants_is_not_removed():
    pool = Pool([NodeSpec("a", MODEL, 1)], dynamic=True)
    grant = pool.place("x", MODEL, Fraction(1, 2))
    with pytest.raises(PoolError):
        pool.remove_node("a")
    pool.release(grant.id)
    pool.remove_node("a")
    assert pool.nodes == {} and pool.capacity(MODEL) == 0


class ChangingNodes(RuleBasedStateMachine):
    """Place, release, and nodes added, resized, cordoned, removed, in any order."""

    def __init__(self):
        super().__init__()
        self.pool = Pool([], {MODEL: "ascend"}, dynamic=True)

    @rule(name=st.sampled_from(NAMES), devices=st.integers(0, 3), schedulable=st.booleans())
    def node_changes(self, name, devices, schedulable):
        self.pool.upsert_node(NodeSpec(name, MODEL, devices, schedulable=schedulable))

    @rule(name=st.sampled_from(NAMES))
    def node_removed(self, name):
        if name not in self.pool.nodes:
            return
        for grant in self.pool.grants_on(name):  # the core ends them first (node_lost)
            self.pool.release(grant.id)
        self.pool.remove_node(name)

    @rule(share=st.sampled_from(SHARES))
    def place(self, share):
        try:
            grant = self.pool.place("someone", MODEL, share)
        except NoCapacity:
            assert self.pool._find_fraction_reference(MODEL, share) is None if share < 1 else \
                self.pool._find_whole_reference(MODEL, int(share)) is None
            return
        for s in grant.slices:
            assert self.pool.nodes[s.node].schedulable, "placed on a cordoned node"
            assert s.device < self.pool.nodes[s.node].devices, "placed on a device the node no longer offers"

    @rule(index=st.integers(0, 50))
    def release(self, index):
        grants = sorted(self.pool.grants)
        if grants:
            self.pool.release(grants[index % len(grants)])

    @rule()
    def restart(self):
        again = Pool(list(self.pool.nodes.values()), {MODEL: "ascend"}, dynamic=True)
        for grant in self.pool.grants.values():
            again.restore(grant)
        assert again.snapshot() == self.pool.snapshot()
        assert (again.held(MODEL), again.held_apart(MODEL)) == (self.pool.held(MODEL), self.pool.held_apart(MODEL))
        self.pool = again

    @invariant()
    def accounts_add_up(self):
        pool = self.pool
        capacity, held, apart = pool.capacity(MODEL), pool.held(MODEL), pool.held_apart(MODEL)
        assert capacity >= 0 and held >= 0 and apart >= 0
        assert held <= capacity
        assert capacity == sum(n.devices for n in pool.nodes.values() if n.schedulable)
        total = sum((s.fraction for g in pool.grants.values() for s in g.slices), Fraction(0))
        assert held + apart == total, "something held is counted nowhere"
        for node in pool.nodes:
            for device in pool.node_devices(node):
                assert 0 <= pool.used(node, device) <= 1

    @invariant()
    def the_index_places_as_the_scan_does(self):
        for share in (Fraction(1, 4), Fraction(1, 2)):
            assert self.pool._find_fraction(MODEL, share) == self.pool._find_fraction_reference(MODEL, share)
        for count in (1, 2):
            assert self.pool._find_whole(MODEL, count) == self.pool._find_whole_reference(MODEL, count)


ChangingNodes.TestCase.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
test_changing_nodes = ChangingNodes.TestCase
