"""Estimated starts against values computed by hand: a small pool, known sessions, a known queue."""

from __future__ import annotations

from npuhub.admission.core import Admission
from npuhub.admission.model import State
from npuhub.site_config import parse_site_config
from support.doubles import FakeClock
from support.sites import flavor, make_site

SITE = parse_site_config(make_site(
    nodes=1, devices_per_node=2,
    groups={"course-a": {"kind": "course"}, "lab-x": {"kind": "lab"}},
    flavors=[flavor("half", "1/2"), flavor("one", 1, groups=["lab-x"])],
    limits={"max_share": "1/2", "groups": {"lab-x": {"max_share": 1}}},
))
T0 = 1_700_000_000.0
MEAN = 3600.0  # the expected session length while nothing has ended yet


def test_estimated_starts_are_the_hand_computed_ones():
    clock = FakeClock(T0)
    adm = Admission(SITE, clock, default_session=MEAN)
    # two devices, each held by a whole-device session: x0's since T0, x1's since T0+600
    assert adm.submit("x0", {"lab-x"}, "one").state is State.GRANTED
    clock.now = T0 + 600
    assert adm.submit("x1", {"lab-x"}, "one").state is State.GRANTED
    # at T0+1200 three halves and a whole device queue up, in this order
    clock.now = T0 + 1200
    queue = [adm.submit(user, groups, flavor_id, request_id=user)
             for user, groups, flavor_id in [("a0", {"course-a"}, "half"), ("a1", {"course-a"}, "half"),
                                             ("a2", {"course-a"}, "half"), ("x2", {"lab-x"}, "one")]]
    assert [d.position for d in queue] == [1, 2, 3, 4]
    # By hand: x0 is expected to end at T0+3600 (granted + mean), x1 at T0+4200.
    #   a0 (1/2): the first device frees at T0+3600            -> starts T0+3600, 1/2 left free
    #   a1 (1/2): takes the other half of that device          -> starts T0+3600, nothing free
    #   a2 (1/2): the second device frees at T0+4200           -> starts T0+4200, 1/2 left free
    #   x2 (1):   needs another half: a0 and a1 are expected to end at T0+3600+3600 = T0+7200
    #                                                          -> starts T0+7200
    expected = {"a0": T0 + 3600, "a1": T0 + 3600, "a2": T0 + 4200, "x2": T0 + 7200}
    assert {d.request: d.eta for d in queue} == expected
    assert {rid: d.eta for rid, d in adm.positions().items()} == expected

    # At T0+4000 nobody has stopped yet: x0 is overdue (expected at T0+3600), so it is now expected to
    # go on a quarter of a mean more, to T0+4000+900 = T0+4900; x1 still ends at T0+4200.
    #   a0: x1's device frees at T0+4200                       -> T0+4200
    #   a1: the other half of it                               -> T0+4200
    #   a2: x0's device frees at T0+4900                       -> T0+4900
    #   x2: a0 and a1 are expected to end at T0+4200+3600      -> T0+7800
    clock.now = T0 + 4000
    expected = {"a0": T0 + 4200, "a1": T0 + 4200, "a2": T0 + 4900, "x2": T0 + 7800}
    assert {rid: adm.decision(rid).eta for rid in expected} == expected
    assert {rid: d.eta for rid, d in adm.positions().items()} == expected

    # x1 stops at T0+4100 (a session of 3500 s): the mean learns 0.9 x 3600 + 0.1 x 3500 = 3590 s, and
    # a0 and a1 start at once on its device.
    #   a2: x0 (overdue) is expected at T0+4100+3590/4 = T0+4997.5  -> T0+4997.5
    #   x2: a0 and a1 are expected to end at T0+4100+3590 = T0+7690 -> T0+7690
    clock.now = T0 + 4100
    adm.release(adm.holdings("x1")[0].id)
    assert [adm.decision(rid).state for rid in ("a0", "a1")] == [State.GRANTED, State.GRANTED]
    assert {rid: adm.decision(rid).eta for rid in ("a2", "x2")} == {"a2": T0 + 4997.5, "x2": T0 + 7690}
    assert [adm.decision(rid).position for rid in ("a2", "x2")] == [1, 2]
