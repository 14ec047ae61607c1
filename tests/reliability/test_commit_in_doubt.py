"""A change whose commit failed is never acknowledged afterwards, not even by a retry of the same call.

Found by the PostgreSQL-restart storm: a student's DELETE whose commit was
cut by the restart was answered 503, her retry was answered 200 "released"
from memory (the core had already ended it there), and the reload from the
database then brought her grant back: an acknowledged end lost, and her
next request refused with ``share_limit``. The same path acknowledged a
POST whose commit had failed (the retry found the request in memory), a
request the database never held.

Here the commit fails deterministically: another connection holds the
SQLite file locked while the engine (the real core, store and database)
commits.
"""

from __future__ import annotations

import sqlite3
from fractions import Fraction

import pytest
from conftest import ONE_DEVICE_SITE

from npuhub.admission.quota import Budgets, QuotaRule
from npuhub.admission.store import AdmissionStore
from npuhub.service.engine import Engine
from npuhub.service.errors import APIError
from npuhub.service.metrics import Metrics
from npuhub.site_config import load_site_config

RULES = [QuotaRule("user", frozenset({"course-demo"}), Fraction(1), "day")]


@pytest.fixture
def engine(tmp_path):
    site_file = tmp_path / "npuhub.yaml"
    site_file.write_text(ONE_DEVICE_SITE)
    path = tmp_path / "admission.sqlite"
    store = AdmissionStore(f"sqlite:///{path}", connect_args={"timeout": 0.2})
    engine = Engine(store, load_site_config(site_file), lambda: {"budgets": Budgets(rules=list(RULES))}, Metrics())
    engine.path = path
    yield engine
    engine.close()


class Locked:
    """Another writer holding the database file: every commit meanwhile fails."""

    def __init__(self, path):
        self.db = sqlite3.connect(path, isolation_level=None)

    def __enter__(self):
        self.db.execute("BEGIN EXCLUSIVE")
        return self

    def __exit__(self, *exc):
        self.db.execute("ROLLBACK")
        self.db.close()


def submit(rid):
    return lambda adm: adm.submit("student1", ["course-demo"], "npu-quarter", request_id=rid)


async def test_a_submit_whose_commit_failed_is_not_found_by_its_retry(engine):
    assert await engine.load()
    with Locked(engine.path):
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
    with Locked(engine.path):
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
