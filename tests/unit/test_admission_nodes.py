"""The admission core when the cluster's nodes change: the queue advances, cordoned nodes keep their
sessions, a lost node's grants end with ``node_lost`` (charged up to the loss) and are reported."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from npuhub.admission.core import Admission
from npuhub.admission.model import State
from npuhub.admission.quota import Budgets, QuotaRule
from npuhub.pool import NodeSpec
from npuhub.service.models import ended_text
from npuhub.site_config import parse_site_config
from support.doubles import FakeClock
from support.sites import MODEL, flavor, kube_pool, make_site

SITE = parse_site_config(make_site(
    pool=kube_pool(), limits={"max_share": 2},
    flavors=[flavor("npu-quarter", "1/4"), flavor("npu-half", "1/2"), flavor("npu-1", 1)]))
NOW = 1_700_000_000.0


def node(name, devices=1, schedulable=True):
    return NodeSpec(name, MODEL, devices, "ascend", schedulable)


def admission(**kw) -> tuple[Admission, FakeClock]:
    clock = FakeClock(NOW)
    return Admission(SITE, clock, **kw), clock


def test_requests_wait_for_a_model_with_no_node_yet_and_a_node_added_serves_them():
    adm, _ = admission()
    waiting = adm.submit("ann", set(), "npu-quarter")
    assert waiting.state is State.WAITING  # the model is declared: she waits, not refused
    adm.apply_nodes([node("n1")])
    assert adm.find(waiting.request).state is State.GRANTED
    assert adm.find(waiting.request).grant.node == "n1"


def test_a_cordoned_node_keeps_its_session_and_takes_nobody_new():
    adm, _ = admission()
    adm.apply_nodes([node("n1")])
    running = adm.submit("ann", set(), "npu-half")
    adm.apply_nodes([node("n1", schedulable=False)])
    assert adm.find(running.request).state is State.GRANTED
    assert adm.submit("bob", set(), "npu-quarter").state is State.WAITING
    assert [r.id for r in adm.on_node("n1")] == [running.request]
    adm.apply_nodes([node("n1", schedulable=False), node("n2")])
    assert adm.waiting() == []  # bob went to n2
    assert adm.holdings("bob")[0].grant.node == "n2"


def test_a_lost_node_ends_its_grants_with_node_lost_charged_up_to_the_loss():
    clock_rules = [QuotaRule("user", frozenset(), Fraction(10), "day")]
    adm, clock = admission(budgets=Budgets(rules=clock_rules))
    adm.apply_nodes([node("n1"), node("n2")])
    ann = adm.submit("ann", set(), "npu-1")
    bob = adm.submit("bob", set(), "npu-1")
    carol = adm.submit("carol", set(), "npu-1")  # waits: both devices are held
    on_lost = adm.find(ann.request).grant.node
    clock.advance(seconds=3600)
    ended = adm.apply_nodes([node("n1" if on_lost == "n2" else "n2")])
    assert [r.id for r in ended] == [ann.request]
    req = adm.find(ann.request)
    assert (req.state, req.reason) == (State.RELEASED, "node_lost")
    assert req.charged == 3600  # one device for one hour (device-seconds): what she used, up to the loss
    assert "removed from the cluster" in ended_text(req).en and ended_text(req).zh
    assert adm.lost_nodes[on_lost]["requests"] == [ann.request]
    assert adm.find(bob.request).state is State.GRANTED
    assert adm.find(carol.request).state is State.WAITING  # the lost node's device is gone with it
    assert adm.apply_nodes([node("n1" if on_lost == "n2" else "n2")]) == []  # the same list again: nothing


def test_a_grant_restored_on_a_node_the_cluster_no_longer_has_ends_at_the_first_list():
    adm, _ = admission()
    adm.apply_nodes([node("n1")])
    ann = adm.submit("ann", set(), "npu-half")
    saved = adm.find(ann.request)
    again, _ = admission()  # a restart: the store gives back the grant; the first list has no n1
    again.restore(None, [saved])
    assert again.find(ann.request).reason == "grant_not_in_pool"
    ended = again.apply_nodes([node("n2")])
    assert [(r.id, r.reason) for r in ended] == [(ann.request, "node_lost")]


class NodesUnderTheQueue(RuleBasedStateMachine):
    """Requests, releases and node changes in any order: nothing on a cordoned node is new, nothing is over-held."""

    def __init__(self):
        super().__init__()
        self.adm, self.clock = admission()
        self.nodes: dict[str, NodeSpec] = {}
        self.cordoned_grants: dict[str, set[str]] = {}  # node -> request ids granted before it was cordoned
        self.users = 0

    @rule(flavor=st.sampled_from(["npu-quarter", "npu-half", "npu-1"]))
    def submit(self, flavor):
        self.users += 1
        self.adm.submit(f"u{self.users}", set(), flavor)

    @rule(index=st.integers(0, 30))
    def release(self, index):
        granted = self.adm.granted()
        if granted:
            self.adm.release(granted[index % len(granted)].id)

    @rule(name=st.sampled_from(["a", "b", "c"]), devices=st.integers(0, 2), schedulable=st.booleans(),
          present=st.booleans())
    def node_changes(self, name, devices, schedulable, present):
        if present:
            self.nodes[name] = node(name, devices, schedulable)
        else:
            self.nodes.pop(name, None)
        self.clock.advance(seconds=60)
        before = {r.id for r in self.adm.granted()}
        ended = self.adm.apply_nodes(self.nodes.values())
        for req in ended:
            assert req.reason == "node_lost" and req.id in before
            assert req.grant.node not in self.nodes or req.grant.node not in self.adm.pool.nodes
        for name_, spec in self.nodes.items():
            if not spec.schedulable:
                self.cordoned_grants.setdefault(name_, {r.id for r in self.adm.on_node(name_)})
            else:
                self.cordoned_grants.pop(name_, None)

    @invariant()
    def nothing_new_on_a_cordoned_node(self):
        for name, earlier in self.cordoned_grants.items():
            assert {r.id for r in self.adm.on_node(name)} <= earlier

    @invariant()
    def held_never_over_capacity_and_every_grant_on_a_known_node(self):
        pool = self.adm.pool
        assert 0 <= pool.held(MODEL) <= pool.capacity(MODEL)
        for req in self.adm.granted():
            assert req.grant is not None and all(s.node in pool.nodes for s in req.grant.slices)


NodesUnderTheQueue.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
test_nodes_under_the_queue = NodesUnderTheQueue.TestCase


def test_a_grant_restored_before_its_node_is_listed_takes_its_slice_again_when_it_is():
    adm, _ = admission()
    adm.apply_nodes([node("n1")])
    ann = adm.submit("ann", set(), "npu-1")
    saved = adm.find(ann.request)
    again, _ = admission()  # a restart before the first list: an empty pool
    again.restore(None, [saved])
    waiting = again.submit("bob", set(), "npu-1")
    assert again.apply_nodes([node("n1")]) == []
    assert again.find(ann.request).state is State.GRANTED and again.find(ann.request).reason is None
    assert again.find(waiting.request).state is State.WAITING  # n1's one device is ann's: never granted twice


def test_a_session_on_a_cordoned_node_is_not_counted_on_by_the_estimates():
    adm, _ = admission()
    adm.apply_nodes([node("n1"), node("n2")])
    on_n1 = adm.submit("ann", set(), "npu-1")
    adm.submit("bob", set(), "npu-1")
    waiting = adm.submit("carol", set(), "npu-1")
    before = adm.decision(waiting.request).eta
    cordoned = adm.find(on_n1.request).grant.node
    adm.apply_nodes([node(cordoned, schedulable=False), node("n2" if cordoned == "n1" else "n1")])
    # only the other node's session can free a device for her now: her estimate cannot come sooner
    assert len(adm.fluid_input(NOW).running) == 1
    assert adm.decision(waiting.request).eta >= before
