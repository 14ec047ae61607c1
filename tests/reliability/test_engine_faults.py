"""The engine under faults: a commit that failed, a clock stepped back. Real core, store and SQLite file.

A change whose commit failed is never acknowledged afterwards, not even by
a retry of the same call.

Found by the PostgreSQL-restart storm: a student's DELETE whose commit was
cut by the restart was answered 503, her retry was answered 200 "released"
from memory (the core had already ended it there), and the reload from the
database then brought her grant back: an acknowledged end lost, and her
next request refused with ``share_limit``. The same path acknowledged a
POST whose commit had failed (the retry found the request in memory), a
request the database never held.

Here a commit fails deterministically: another connection holds the
SQLite file locked while the engine (the real core, store and database)
commits.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from support.dbfaults import LockedSQLite
from support.sites import write_site

from npuhub.admission.quota import Budgets, QuotaRule
from npuhub.admission.store import AdmissionStore
from npuhub.service.engine import Engine
from npuhub.service.errors import APIError
from npuhub.service.metrics import Metrics
from npuhub.site_config import load_site_config

RULES = [QuotaRule("user", frozenset({"course-demo"}), Fraction(1), "day")]


class HandClock:
    def __init__(self, now: float = 1_790_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def engine(tmp_path):
    site_file = tmp_path / "npuhub.yaml"
    write_site(site_file)
    path = tmp_path / "admission.sqlite"
    store = AdmissionStore(f"sqlite:///{path}", connect_args={"timeout": 0.2})
    hand = HandClock()
    engine = Engine(store, load_site_config(site_file), lambda: {"budgets": Budgets(rules=list(RULES))}, Metrics(),
                    clock=hand)
    engine.path = path
    engine.hand = hand
    yield engine
    engine.close()


def submit(rid, user="student1"):
    return lambda adm: adm.submit(user, ["course-demo"], "npu-quarter", request_id=rid)


async def test_a_submit_whose_commit_failed_is_not_found_by_its_retry(engine):
    assert await engine.load()
    with LockedSQLite(engine.path):
        with pytest.raises(APIError) as refused:
            await engine.change(submit("r1"), "submit")
        assert refused.value.status == 503
        # the retry of the POST looks the id up first: it must not be told the request exists
        with pytest.raises(APIError) as again:
            engine.find("r1")
        assert again.value.status == 503
    assert await engine.recover()
    assert engine.find("r1") is None  # the database never held it
    await engine.change(submit("r1"), "submit")
    assert engine.store.get_request("r1").state.value == "granted"


async def test_an_end_whose_commit_failed_is_not_acknowledged_by_its_retry(engine):
    assert await engine.load()
    await engine.change(submit("r1"), "submit")
    with LockedSQLite(engine.path):
        with pytest.raises(APIError) as refused:
            await engine.change(lambda adm: adm.end("r1", by="student1"), "cancel")
        assert refused.value.status == 503
        # the retry of the DELETE reads the request first: "released" would be a lie the reload undoes
        with pytest.raises(APIError) as again:
            engine.find("r1")
        assert again.value.status == 503
    assert await engine.recover()
    assert engine.find("r1").state.value == "granted"  # as the database has it; the retry ends it for real
    await engine.change(lambda adm: adm.end("r1", by="student1"), "cancel")
    assert engine.store.get_request("r1").state.value == "released"



async def test_a_clock_stepped_back_never_ends_a_request_before_it_was_granted(engine):
    """Found by test_clock.py: a system clock stepped back (NTP) wrote histories that end before they begin."""
    hand = engine.hand
    assert await engine.load()
    await engine.change(submit("r1"), "submit")
    hand.now += 60
    await engine.tick()
    hand.now -= 1800  # the system clock is stepped back half an hour
    await engine.tick()
    await engine.change(submit("r2", "student2"), "submit")
    await engine.change(lambda adm: adm.end("r1", by="student1"), "cancel")
    first, second = engine.store.get_request("r1"), engine.store.get_request("r2")
    assert first.ended_at >= first.granted_at
    assert first.charged == Fraction(1, 4) * 60  # the minute it held; nothing for, or against, the step
    assert second.arrived >= first.granted_at  # what came later is recorded as later
    stamps = [e["at"] for e in sorted(engine.store.ledger(limit=100), key=lambda e: e["id"])]
    assert stamps == sorted(stamps)
