"""Idle reclaim's choice: only what the queue needs, longest idle first, and always past the hard limit."""

from npuhub.admission.core import Admission
from npuhub.service.reclaim import reclaimable
from npuhub.site_config import parse_site_config
from support.doubles import FakeClock
from support.sites import flavor, make_site

SITE = parse_site_config(make_site(
    devices_per_node=2, groups={"lab-x": {"kind": "lab"}},
    flavors=[flavor("one", 1), flavor("quarter", "1/4", idle_minutes=5)], limits={"max_share": 2},
))
NOW = 1_700_000_000.0


def setup():
    clock = FakeClock(NOW - 6 * 3600)
    adm = Admission(SITE, clock)
    a = adm.submit("a", {"lab-x"}, "one", request_id="a")
    b = adm.submit("b", {"lab-x"}, "one", request_id="b")
    clock.now = NOW
    return adm, a, b


def limit(req):
    return 1800.0


def test_nothing_is_reclaimed_while_nobody_waits():
    adm, _, _ = setup()
    activity = {("a", ""): NOW - 3600, ("b", ""): NOW - 3600}
    assert reclaimable(adm, activity, NOW, limit, hard_limit=4 * 3600) == []


def test_only_as_much_as_the_queue_needs_longest_idle_first():
    adm, _, _ = setup()
    adm.submit("c", {"lab-x"}, "quarter", request_id="c")  # waits: the pool is full
    activity = {("a", ""): NOW - 3600, ("b", ""): NOW - 5400}
    assert reclaimable(adm, activity, NOW, limit, hard_limit=4 * 3600) == ["b"]
    active = {("a", ""): NOW - 60, ("b", ""): NOW - 60}
    assert reclaimable(adm, active, NOW, limit, hard_limit=4 * 3600) == []  # both at work


def test_hard_limit_applies_without_a_queue():
    adm, _, _ = setup()
    activity = {("a", ""): NOW - 5 * 3600, ("b", ""): NOW - 60}
    assert reclaimable(adm, activity, NOW, limit, hard_limit=4 * 3600) == ["a"]
    assert reclaimable(adm, {}, NOW, limit, hard_limit=0) == []  # unknown to the hub: reconciliation's job


def test_flavor_idle_minutes_from_the_site_file():
    assert SITE.catalogue.resolve("quarter", set()).idle_limit == 300
    assert SITE.catalogue.resolve("one", set()).idle_limit is None
