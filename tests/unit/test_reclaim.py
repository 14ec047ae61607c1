"""Idle reclaim: only what the queue needs, longest idle first, the hard limit with its own words, never
faster than activity reaches the service, a stop time to the second, estimates that count on reclaimed
slices."""

import asyncio
from types import SimpleNamespace

import pytest

from npuhub.activity import activity_lag
from npuhub.admission.core import Admission
from npuhub.admission.estimates import estimate_starts
from npuhub.admission.model import State
from npuhub.cli import main
from npuhub.i18n import MESSAGES
from npuhub.refusals import stop_time
from npuhub.service.metrics import Metrics
from npuhub.service.models import ended_text
from npuhub.service.reclaim import HARD_LIMIT, RECLAIMED, IdleReclaim, reclaimable
from npuhub.site_config import SiteConfigError, parse_site_config
from npuhub.spawners.local import LocalNPUSpawner
from support.doubles import FakeClock
from support.sites import flavor, make_site, write_site

SITE = parse_site_config(make_site(
    devices_per_node=2, groups={"lab-x": {"kind": "lab"}},
    flavors=[flavor("one", 1), flavor("quarter", "1/4", idle_minutes=5)], limits={"max_share": 2},
))
NOW = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
HOUR = 3600.0


def setup():
    """a and b hold both devices since six hours ago; the clock at NOW."""
    clock = FakeClock(NOW - 6 * HOUR)
    adm = Admission(SITE, clock)
    adm.submit("a", {"lab-x"}, "one", request_id="a")
    adm.submit("b", {"lab-x"}, "one", request_id="b")
    clock.now = NOW
    return adm, clock


def limit(req):
    return 1800.0


# -- the choice ------------------------------------------------------------------------------
def test_nothing_is_reclaimed_while_nobody_waits():
    adm, _ = setup()
    activity = {("a", ""): NOW - HOUR, ("b", ""): NOW - HOUR}
    assert reclaimable(adm, activity, NOW, limit, hard_limit=4 * HOUR) == {}


def test_only_as_much_as_the_queue_needs_longest_idle_first():
    adm, _ = setup()
    adm.submit("c", {"lab-x"}, "quarter", request_id="c")  # waits: the pool is full
    activity = {("a", ""): NOW - HOUR, ("b", ""): NOW - 1.5 * HOUR}
    assert reclaimable(adm, activity, NOW, limit, hard_limit=4 * HOUR) == {"b": RECLAIMED}
    active = {("a", ""): NOW - 60, ("b", ""): NOW - 60}
    assert reclaimable(adm, active, NOW, limit, hard_limit=4 * HOUR) == {}  # both at work


def test_the_hard_limit_applies_without_a_queue_and_says_so():
    adm, _ = setup()
    activity = {("a", ""): NOW - 5 * HOUR, ("b", ""): NOW - 60}
    assert reclaimable(adm, activity, NOW, limit, hard_limit=4 * HOUR) == {"a": HARD_LIMIT}
    assert reclaimable(adm, {}, NOW, limit, hard_limit=0) == {}  # unknown to the hub: reconciliation's job


def test_flavor_idle_minutes_from_the_site_file():
    assert SITE.catalogue.resolve("quarter", set()).idle_limit == 300
    assert SITE.catalogue.resolve("one", set()).idle_limit is None


# -- warning and stop, with a hub that stops what it is asked to ------------------------------------
class Hub:
    """Stops what it is asked to; its spawner reports the stop (a plain end) before the hub answers, as the
    real hub's does."""

    def __init__(self, adm):
        self.adm = adm
        self.stopped: list[tuple[str, str]] = []

    async def stop_server(self, user, server):
        self.stopped.append((user, server))
        for req in list(self.adm.granted()):
            if (req.user, req.server) == (user, server):
                self.adm.end(req.id, by="npuhub-spawner")
        return "stopped"


class Engine:
    """The service's engine as the watchers use it: the admission, the site, and changes applied at once."""

    def __init__(self, adm):
        self.adm, self.site = adm, SITE

    async def change(self, fn, what=""):
        return fn(self.adm)


def watcher(adm, clock, *, grace=130.0, lag=0.0, idle_limit=1800.0, hard_limit=4 * HOUR):
    hub = Hub(adm)
    watch = IdleReclaim(Engine(adm), hub, idle_limit=idle_limit, hard_limit=hard_limit, grace=grace,
                        metrics=Metrics(), clock=clock, lag=lag)
    return watch, hub


def test_activity_reported_after_the_warning_withdraws_it():
    """A late report of activity (older than the limit, newer than what the warning saw) is a new start."""
    adm, clock = setup()
    adm.submit("c", {"lab-x"}, "quarter", request_id="c")
    watch, hub = watcher(adm, clock)
    asyncio.run(watch.update({("a", ""): NOW - 60, ("b", ""): NOW - 2 * HOUR}))
    assert watch.warnings_for("b")[0]["reason"] == RECLAIMED
    clock.now = NOW + 130
    # b was used 40 minutes ago: still idle past the limit, but not as idle as when warned
    asyncio.run(watch.update({("a", ""): NOW, ("b", ""): NOW - 2400}))
    assert hub.stopped == [] and adm.find("b").state is State.GRANTED
    assert watch.warnings_for("b")[0]["stop_at"] == "2023-11-14T22:17:40Z"  # a full grace from now
    clock.now = NOW + 260
    asyncio.run(watch.update({("a", ""): NOW + 200, ("b", ""): NOW - 2400}))
    assert hub.stopped == [("b", "")]
    ended = adm.find("b")
    assert ended.state is State.RELEASED and ended.reason == RECLAIMED
    assert ended_text(ended) == MESSAGES["ended_idle_reclaimed"]


def test_a_hard_limit_stop_does_not_say_that_others_wait():
    adm, clock = setup()
    watch, hub = watcher(adm, clock)
    asyncio.run(watch.update({("a", ""): NOW - 5 * HOUR, ("b", ""): NOW - 60}))
    warning = watch.warnings_for("a")[0]
    assert warning["reason"] == HARD_LIMIT
    assert "others are waiting" not in warning["message"]["en"] and "有人在排队等待" not in warning["message"]["zh"]
    assert "无论是否有人排队" in warning["message"]["zh"]
    assert "over 240 minutes, the centre's limit for idle servers" in warning["message"]["en"]
    clock.now = NOW + 130
    asyncio.run(watch.update({("a", ""): NOW - 5 * HOUR, ("b", ""): NOW}))
    ended = adm.find("a")
    assert hub.stopped == [("a", "")] and ended.reason == HARD_LIMIT
    assert ended_text(ended) == MESSAGES["ended_idle_hard_limit"]
    assert "others" not in ended_text(ended).en and "排队" not in ended_text(ended).zh


def test_the_warning_gives_the_stop_time_to_the_second():
    adm, clock = setup()
    adm.submit("c", {"lab-x"}, "quarter", request_id="c")
    watch, _ = watcher(adm, clock, grace=130.0)
    asyncio.run(watch.update({("a", ""): NOW - 60, ("b", ""): NOW - 2 * HOUR}))
    text = watch.warnings_for("b")[0]["message"]
    assert "stopped at 22:15:30 UTC (in 2 minutes)." in text["en"]
    assert "于 22:15:30 UTC（2 分钟后）停止" in text["zh"]


def test_stop_times_read_to_the_second_and_never_promise_more_time():
    assert stop_time(NOW + 119.9, NOW).en == "22:15:19 UTC (in 119 seconds)"
    assert stop_time(NOW + 179, NOW).en == "22:16:19 UTC (in 2 minutes)"
    assert stop_time(NOW + 2 * HOUR, NOW).en == "2023-11-15 00:13:20 UTC (in 120 minutes)"  # another day


# -- never faster than the activity lag -----------------------------------------------------------
def test_the_activity_lag_is_one_late_report_and_one_reconciliation(monkeypatch):
    monkeypatch.delenv("NPUHUB_ACTIVITY_INTERVAL", raising=False)
    assert activity_lag(10.0) == pytest.approx(15 * 1.1 + 10)
    monkeypatch.setenv("NPUHUB_ACTIVITY_INTERVAL", "2")
    assert activity_lag(1.0) == pytest.approx(3.2)


def test_no_idle_limit_nor_grace_is_shorter_than_the_activity_lag():
    adm, clock = setup()
    watch, _ = watcher(adm, clock, grace=3.0, lag=26.5, idle_limit=1.0, hard_limit=2.0)
    assert (watch.default_idle_limit, watch.hard_limit, watch.grace) == (26.5, 26.5, 26.5)
    adm.submit("q", {"lab-x"}, "quarter", request_id="q")  # waits: its flavor's own 5 minutes stand
    assert watch.idle_limit(adm.find("q")) == 300


def test_the_site_file_refuses_an_idle_limit_below_a_minute(tmp_path):
    site = make_site(flavors=[flavor("quarter", "1/4", idle_minutes=0.5)])
    with pytest.raises(SiteConfigError, match=r"idle_minutes.*at least 1 \(minutes\), not 0.5"):
        parse_site_config(site)
    with pytest.raises(SystemExit, match=r"flavors\[0\]\.idle_minutes: must be at least 1 \(minutes\)"):
        main(["check-config", str(write_site(tmp_path / "site.yaml", site))])
    one_minute = parse_site_config(make_site(flavors=[flavor("quarter", "1/4", idle_minutes=1)]))
    assert one_minute.catalogue.resolve("quarter", set()).idle_limit == 60


def test_servers_report_their_activity_every_15_seconds(monkeypatch):
    """Any npuhub spawner (the mixin's environment, not only the local one's) sets the report interval."""
    monkeypatch.delenv("NPUHUB_ACTIVITY_INTERVAL", raising=False)
    owner = SimpleNamespace(name="someone", url="/user/someone/")
    spawner = LocalNPUSpawner(user=owner, hub=SimpleNamespace())
    assert spawner.npuhub_env()["JUPYTERHUB_ACTIVITY_INTERVAL"] == "15"
    monkeypatch.setenv("NPUHUB_ACTIVITY_INTERVAL", "2")
    assert spawner.npuhub_env()["JUPYTERHUB_ACTIVITY_INTERVAL"] == "2"


# -- estimates ----------------------------------------------------------------------------------
def test_the_estimate_counts_on_a_slice_idle_reclaim_will_free():
    """Hand-computed: both sessions overdue (6 h of a 1 h mean) end a quarter mean from now, 900 s; b's
    reclaim at NOW + 130 frees a device first."""
    adm, clock = setup()
    adm.submit("c", {"lab-x"}, "quarter", request_id="c")
    assert adm.positions()["c"].eta == NOW + 900
    adm.set_reclaim_times({"b": NOW + 130})
    assert adm.positions()["c"].eta == NOW + 130
    assert estimate_starts(adm.fluid_input(NOW), adm.queue(), NOW)["c"] == NOW + 130  # the reference agrees
    clock.now = NOW + 100  # the kept simulation, read again later, still counts on it
    assert adm.positions()["c"].eta == NOW + 130
    adm.set_reclaim_times({})  # activity withdrew the warning
    assert adm.positions()["c"].eta == NOW + 100 + 900


def test_the_kept_simulation_with_reclaim_times_matches_the_reference_as_the_clock_moves():
    """Reclaim times before and after expected ends, fixed and overdue (whose end moves with the clock and
    passes a reclaim time during the run); then stops already due."""
    site = parse_site_config(make_site(devices_per_node=4, groups={"lab-x": {"kind": "lab"}},
                                       flavors=[flavor("quarter", "1/4"), flavor("half", "1/2")],
                                       limits={"max_share": 4}))
    clock = FakeClock(NOW)
    adm = Admission(site, clock, default_session=600.0)
    for i in range(16):
        clock.now = NOW + (5 * i if i < 8 else 300 + 10 * i)
        adm.submit(f"g{i}", {"lab-x"}, "quarter", request_id=f"g{i}")
    clock.now = NOW + 650
    for i in range(30):
        adm.submit(f"w{i}", {"lab-x"}, ["quarter", "half"][i % 2], request_id=f"w{i}")
    # g0..g7 are overdue (their ends: now + 150 s); g12 and g13 end at NOW + 1020 and NOW + 1030
    adm.set_reclaim_times({"g2": NOW + 950, "g5": NOW + 900, "g12": NOW + 1000, "g13": NOW + 2000})
    runs = adm.stats.simulations
    for _ in range(400):
        clock.now += 0.5
        reference = estimate_starts(adm.fluid_input(clock.now), adm.queue(), clock.now)
        assert {rid: d.eta for rid, d in adm.positions().items()} == reference
    assert adm.stats.simulations - runs < 100  # the kept simulation was kept, mostly: what this compares
    adm.set_reclaim_times({"g1": clock.now - 5, "g3": clock.now + 10})
    for _ in range(40):
        clock.now += 0.5
        reference = estimate_starts(adm.fluid_input(clock.now), adm.queue(), clock.now)
        assert {rid: d.eta for rid, d in adm.positions().items()} == reference
