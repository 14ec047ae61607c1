"""The admission's store on real databases: every change one transaction, a reload loses nothing."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest
import sqlalchemy as sa

from npuhub.admission.model import Refused, State
from npuhub.admission.quota import Budgets, QuotaRule
from npuhub.admission.store import AdmissionStore, StoreUnavailable
from npuhub.site_config import load_site_config
from support.doubles import FakeClock

pytestmark = pytest.mark.integration

NOW = 1_700_000_000.0
SITE = load_site_config()
GROUPS = {"course-demo": [f"student{i}" for i in range(1, 13)], "lab-demo": ["labmember1", "labmember2"]}
FLAVORS = {"course-demo": ["cpu", "npu-eighth", "npu-quarter"], "lab-demo": ["npu-half", "npu-1", "npu-2"]}


def budgets():
    return Budgets(rules=[QuotaRule("user", frozenset({"course-demo"}), Fraction(1), "day"),
                          QuotaRule("group", frozenset({"lab-demo"}), Fraction(20), "week")])


def state_of(adm):
    """What must survive a reload, in comparable form."""
    return {
        "pool": adm.pool.snapshot(),
        "granted": sorted((r.id, r.user, r.grant.to_dict() if r.grant else None) for r in adm.granted()),
        "queue": [r.id for r in adm.queue()],
        "balances": {n: a.balance for n, a in adm.budgets.accounts.items()},
        "reservations": sorted(adm.reservations),
    }


def random_step(adm, rng, counter):
    """One random thing people do: ask, stop, cancel, time passes, a teacher reserves."""
    roll = rng.random()
    if roll < 0.5:
        group = rng.choice(sorted(GROUPS))
        user = rng.choice(GROUPS[group])
        try:
            adm.submit(user, {group}, rng.choice(FLAVORS[group]), request_id=f"req-{counter}")
        except Refused:
            pass
    elif roll < 0.7 and adm.granted():
        adm.release(rng.choice(sorted(r.id for r in adm.granted())))
    elif roll < 0.8 and adm.waiting():
        adm.cancel(rng.choice(sorted(r.id for r in adm.waiting())))
    elif roll < 0.97:
        adm.clock.now += rng.randint(1, 1800)
        adm.meter()
        adm.schedule()
    elif not adm.reservations:
        now = adm.clock.now
        adm.reserve("course-demo", "npu-quarter", 4, now, now + 3600, "teacher1", hold=600, reservation_id=f"res-{counter}")


def test_reload_after_every_change_gives_the_same_state(db_url):
    rng = random.Random(11)
    clock = FakeClock(NOW)
    store = AdmissionStore(db_url)
    adm = store.open(SITE, clock, budgets=budgets())
    for counter in range(250):
        random_step(adm, rng, counter)
        store.commit(adm)
        if counter % 25 == 0:
            reloaded = AdmissionStore(db_url).open(SITE, clock, budgets=budgets())
            assert state_of(reloaded) == state_of(adm)
    # Charged exactly once: each account's charges for a request add up to what the request accrued.
    with store.engine.connect() as db:
        charges = db.execute(sa.text(
            "SELECT request, account, amount FROM npuhub_ledger WHERE kind = 'charge'")).all()
        charged = dict(db.execute(sa.text("SELECT id, charged FROM npuhub_requests")).all())
    sums: dict[tuple[str, str], Fraction] = {}
    for request, account, amount in charges:
        sums[(request, account)] = sums.get((request, account), Fraction(0)) - Fraction(amount)
    assert sums, "the workload should have charged something"
    for (request, account), total in sums.items():
        assert total == Fraction(charged[request]), (request, account)
    store.close()


def test_a_failed_commit_leaves_the_previous_state(db_url, tmp_path):
    clock = FakeClock(NOW)
    store = AdmissionStore(db_url)
    adm = store.open(SITE, clock, budgets=budgets())
    first = adm.submit("labmember1", {"lab-demo"}, "npu-2", request_id="first")
    store.commit(adm)
    before = state_of(adm)

    adm.submit("labmember2", {"lab-demo"}, "npu-2", request_id="second")
    broken = AdmissionStore(db_url)
    broken.engine.dispose()
    broken.engine = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none" if "postgres" in db_url
                                     else f"sqlite:///{tmp_path}/missing-dir/x.sqlite")
    with pytest.raises(StoreUnavailable):
        broken.commit(adm)
    assert adm.dirty  # nothing was marked saved

    reloaded = AdmissionStore(db_url).open(SITE, clock, budgets=budgets())
    assert state_of(reloaded) == before
    assert reloaded.requests[first.request].state is State.GRANTED
    assert "second" not in reloaded.requests  # the half-done request never happened
    store.close()


def test_schema_is_versioned_and_upgrades_are_idempotent(db_url):
    AdmissionStore(db_url).open(SITE, FakeClock(NOW))
    store = AdmissionStore(db_url)
    store.open(SITE, FakeClock(NOW))
    with store.engine.connect() as db:
        assert db.execute(sa.text("SELECT version_num FROM npuhub_alembic_version")).scalar() == _head()
    store.close()


def _head() -> str:
    """The newest revision of the admission schema, as its migration scripts say."""
    from importlib import resources

    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("npuhub.admission") / "migrations"))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    return head


def test_a_database_of_the_first_schema_is_upgraded_with_its_requests(db_url):
    """0001 -> 0002 adds who ended a request; requests written before keep everything else."""
    from importlib import resources

    from alembic import command
    from alembic.config import Config

    engine = sa.create_engine(db_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("npuhub.admission") / "migrations"))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0001")
        connection.execute(sa.text(
            'INSERT INTO npuhub_requests (id, "user", server, groups, flavor, share, state, reason, arrived, seq, '
            "charged, ended_at) VALUES ('old-1', 'student1', '', '[]', 'npu-quarter', '1/4', 'cancelled', "
            "'cancelled', 1.0, 1, '0', 2.0)"))
    engine.dispose()
    store = AdmissionStore(db_url)
    store.open(SITE, FakeClock(NOW))
    old = store.get_request("old-1")
    assert old.state is State.CANCELLED and old.ended_by is None and old.ended_at == 2.0
    store.close()


def test_a_workshops_window_survives_a_reload(db_url):
    """A window budget keeps its window (its members still draw on it), and a session on a reservation whose
    window ended while the service was away is still known to be past it."""
    clock = FakeClock(NOW)
    store = AdmissionStore(db_url)
    adm = store.open(SITE, clock, budgets=budgets())
    adm.budgets.open_window("group:course-demo@workshop-W1", "course-demo", Fraction(2), NOW + 60, NOW + 600,
                            NOW, "teacher1")
    adm.reserve("course-demo", "npu-quarter", 1, NOW, NOW + 120, "teacher1", reservation_id="res-w")
    on_it = adm.submit("student1", {"course-demo"}, "npu-quarter", request_id="on-res")
    store.commit(adm)
    assert adm.requests[on_it.request].charge_group is None  # the budget's window has not opened yet

    clock.now = NOW + 200  # the reservation's window is over; the budget's is open
    adm = AdmissionStore(db_url).open(SITE, clock, budgets=budgets())
    assert adm.sessions_past_window(clock.now) == ["on-res"]
    later = adm.submit("student2", {"course-demo"}, "npu-quarter", request_id="in-window")
    assert adm.requests[later.request].charge_group == "course-demo@workshop-W1"
    assert adm.budgets.accounts["group:course-demo@workshop-W1"].rule.starts == NOW + 60
    clock.now = NOW + 700  # and now over too: starts draw on the usual accounts again
    assert adm.budgets.window_for({"course-demo"}, clock.now) is None
