"""The invariant checkers catch real violations: the real admission core and store, with one rule broken on purpose.

A day of a one-device pool is played with a hand-turned clock on a SQLite
file: quarter slices granted, metered, released, one never used and
abandoned, one left waiting, a restart in the middle. The checkers find
nothing in it; then each is shown to find what a broken rule leaves behind
(a restart that forgets the grants it loads, metering that charges a
stretch twice, an abandon that keeps the charge, a commit that drops new
requests). A checker that could not fail would prove nothing in the
fault-injection storms.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from support.sites import write_site
from invariants import Heard, api_disagrees, charges, ledger_chain, lost, over_capacity, read_history, unserved

from npuhub.admission.core import Admission
from npuhub.admission.quota import Budgets, QuotaRule
from npuhub.admission.store import AdmissionStore
from npuhub.pool import Pool
from npuhub.site_config import load_site_config

RULES = [QuotaRule("user", frozenset({"course-demo"}), Fraction(1), "day")]
STUDENTS = ["student1", "student2", "student3", "student4", "student5"]


class Clock:
    def __init__(self, now: float = 1_790_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def site(tmp_path):
    path = tmp_path / "npuhub.yaml"
    write_site(path)
    return load_site_config(path)


def play(db_url: str, site, clock: Clock) -> tuple[Heard, set[str]]:
    """Five students ask for a quarter each (four fit); two use theirs, one never does; then a restart."""
    heard = Heard()
    store = AdmissionStore(db_url)
    adm = store.open(site, clock, budgets=Budgets(rules=list(RULES)))
    ids = {}
    for name in STUDENTS:
        decision = adm.submit(name, ["course-demo"], "npu-quarter", request_id=f"req-{name}")
        ids[name] = decision.request
        heard.tell(decision.request, name, decision.state.value)
    store.commit(adm)
    clock.now += 30
    adm.meter()
    store.commit(adm)

    # kill -9 and start again: a fresh core loaded from the database
    clock.now += 15
    adm = store.open(site, clock, budgets=Budgets(rules=list(RULES)))
    adm.schedule()
    store.commit(adm)
    clock.now += 20
    adm.meter()
    for name in ("student1", "student2"):  # their servers stopped: charged to now
        adm.release(ids[name])
        heard.tell(ids[name], name, "released")
    adm.abandon(ids["student3"])  # no server ever ran on it: refunded
    heard.tell(ids["student3"], "student3", "released")
    store.commit(adm)
    clock.now += 10
    adm.meter()
    store.commit(adm)
    store.close()
    served = {ids["student1"], ids["student2"], ids["student4"]}
    return heard, served


def violations(db_url: str, site, clock: Clock, heard: Heard, served: set[str]) -> dict[str, list[str]]:
    history = read_history(db_url)
    still_granted = {(r.user, r.server) for r in history.requests.values() if r.state.value == "granted"}
    return {
        "lost": lost(history, heard),
        "over_capacity": over_capacity(history, site),
        "charges": charges(history, site, lambda r: r.id in served, clock.now, accrual_interval=1.0),
        "unserved": unserved(history, still_granted),
        "ledger_chain": ledger_chain(history),
    }


def test_a_sound_history_has_no_violations(tmp_path, site):
    clock = Clock()
    db_url = f"sqlite:///{tmp_path / 'a.sqlite'}"
    heard, served = play(db_url, site, clock)
    found = violations(db_url, site, clock, heard, served)
    assert found == {"lost": [], "over_capacity": [], "charges": [], "unserved": [], "ledger_chain": []}
    history = read_history(db_url)
    states = {r.user: r.state.value for r in history.requests.values()}
    assert states == {"student1": "released", "student2": "released", "student3": "released",
                      "student4": "granted", "student5": "granted"}
    # the charges are there to be checked: two sessions charged, one refunded
    assert sum(1 for e in history.ledger if e["kind"] == "refund") == 1
    assert history.requests["req-student1"].charged == Fraction(1, 4) * 65
    # a server the hub lost, and an API that tells another story, are seen too
    assert len(unserved(history, {("student4", "")})) == 1
    assert api_disagrees(history, {"req-student1": "granted", "req-student4": "granted"}) == [
        "the API says request req-student1 is granted; the database says released"]


def test_a_restart_that_forgets_loaded_grants_is_caught_as_over_capacity(tmp_path, site, monkeypatch):
    clock = Clock()
    db_url = f"sqlite:///{tmp_path / 'a.sqlite'}"
    monkeypatch.setattr(Pool, "restore", lambda self, grant: None)  # the broken rule
    heard, served = play(db_url, site, clock)
    found = violations(db_url, site, clock, heard, served)
    assert any("device ('node-0', 0) held 5/4" in v for v in found["over_capacity"]), found
    # student5 was granted on top of the four forgotten grants
    assert read_history(db_url).requests["req-student5"].granted_at == 1_790_000_045.0


def test_metering_that_charges_a_stretch_twice_is_caught(tmp_path, site, monkeypatch):
    clock = Clock()
    db_url = f"sqlite:///{tmp_path / 'a.sqlite'}"
    meter_one = Admission._meter_one

    def charge_twice(self, req, now):
        before = req.metered_until
        spent = meter_one(self, req, now)
        if before is not None and req.metered_until != before:
            req.metered_until = before  # the broken rule: the tick forgets it charged this stretch
            meter_one(self, req, now)
        return spent

    monkeypatch.setattr(Admission, "_meter_one", charge_twice)
    heard, served = play(db_url, site, clock)
    found = violations(db_url, site, clock, heard, served)
    assert found["lost"] == [] and found["over_capacity"] == []
    assert any("req-student1 held 65.000s and is charged 130.000s worth" in v for v in found["charges"]), found


def test_an_abandon_that_keeps_the_charge_is_caught(tmp_path, site, monkeypatch):
    clock = Clock()
    db_url = f"sqlite:///{tmp_path / 'a.sqlite'}"
    monkeypatch.setattr(Admission, "abandon", lambda self, rid, reason="server_gone": self.release(rid, reason))
    heard, served = play(db_url, site, clock)
    found = violations(db_url, site, clock, heard, served)
    assert found["charges"] == ["request req-student3 had no server and is charged 65/4"], found


def test_a_commit_that_drops_new_requests_is_caught_as_lost(tmp_path, site, monkeypatch):
    clock = Clock()
    db_url = f"sqlite:///{tmp_path / 'a.sqlite'}"
    upsert = AdmissionStore._upsert

    def drop_student5(self, db, table, key, rows):
        # the broken rule: one new request never reaches the database
        upsert(self, db, table, key, [row for row in rows if row[key] != "req-student5"])

    monkeypatch.setattr(AdmissionStore, "_upsert", drop_student5)
    heard, served = play(db_url, site, clock)
    found = violations(db_url, site, clock, heard, served)
    assert found["lost"] == ["request req-student5 of student5 was acknowledged and is not in the database"]


def test_a_ledger_entry_written_twice_is_caught(tmp_path, site, monkeypatch):
    clock = Clock()
    db_url = f"sqlite:///{tmp_path / 'a.sqlite'}"
    commit = AdmissionStore.commit

    def commit_a_charge_twice(self, adm):  # the broken rule: one charge of each commit is written twice
        adm.budgets.pending.extend([dict(e) for e in adm.budgets.pending if e["kind"] == "charge"][:1])
        commit(self, adm)

    monkeypatch.setattr(AdmissionStore, "commit", commit_a_charge_twice)
    heard, served = play(db_url, site, clock)
    found = violations(db_url, site, clock, heard, served)
    assert any("starts from" in v for v in found["ledger_chain"]), found
    assert found["charges"], "a charge written twice is also a request charged other than once"
