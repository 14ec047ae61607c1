"""Group commit: changes that arrive together share one transaction, and each caller still sees only its own outcome.

The real engine, core and store on a SQLite file. A commit is counted by
wrapping the store's own ``commit``; a failed commit is made by another
connection holding the file locked (as in tests/reliability/test_engine_faults.py).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from npuhub.admission.fairshare import FairShare
from npuhub.admission.model import Refused, State
from npuhub.admission.quota import Budgets
from npuhub.admission.store import AdmissionStore
from npuhub.service.engine import Engine
from npuhub.service.errors import APIError
from npuhub.service.metrics import Metrics
from npuhub.site_config import load_site_config
from support.dbfaults import LockedSQLite, poisoned_reservation


@pytest.fixture
def engine(tmp_path):
    path = tmp_path / "admission.sqlite"
    store = AdmissionStore(f"sqlite:///{path}", connect_args={"timeout": 0.2})
    eng = Engine(store, load_site_config(None),
                 lambda: {"budgets": Budgets(rules=[]), "fairshare": FairShare(half_life=86400.0)}, Metrics())
    assert asyncio.run(eng.load())
    eng.path = path
    commits = []
    real_commit = store.commit

    def counted(adm):
        commits.append(len(adm.dirty))
        real_commit(adm)

    store.commit = counted
    eng.commits = commits
    yield eng
    eng.close()


def submit(rid: str, user: str, flavor: str = "npu-quarter"):
    return lambda adm: adm.submit(user, ["course-demo"], flavor, request_id=rid)


def stored(engine: Engine, rid: str):
    return engine.store.get_request(rid)


def test_changes_that_arrive_together_are_one_transaction_and_each_caller_gets_its_own_answer(engine):
    # two nodes of 8 devices hold 64 quarters: the first 64 are granted, the next 16 wait, in arrival order
    rids = [f"r{i:03d}" for i in range(80)]

    async def scenario():
        return await asyncio.gather(*(engine.change(submit(rid, f"s{i}"), "submit") for i, rid in enumerate(rids)))

    decisions = asyncio.run(scenario())
    assert [d.request for d in decisions] == rids
    assert len(engine.commits) == 1 and engine.groups == 1 and engine.grouped == 80
    assert [d.state for d in decisions] == [State.GRANTED] * 64 + [State.WAITING] * 16
    # each waiting caller was told its place as it stood after its own change, as if it had been alone
    assert [d.position for d in decisions[64:]] == list(range(1, 17))
    rows = [stored(engine, rid) for rid in rids]
    assert [r.seq for r in rows] == sorted(r.seq for r in rows)  # the order of arrival is kept
    assert {r.state for r in rows[:64]} == {State.GRANTED} and {r.state for r in rows[64:]} == {State.WAITING}


def test_a_refusal_in_a_group_is_its_caller_s_alone(engine):
    async def scenario():
        return await asyncio.gather(
            engine.change(submit("a", "s1"), "submit"),
            engine.change(submit("b", "s1"), "submit"),  # her second quarter: over course-demo's 1/4
            engine.change(submit("c", "s2"), "submit"),
            return_exceptions=True)

    a, b, c = asyncio.run(scenario())
    assert a.state is State.GRANTED and c.state is State.GRANTED
    assert isinstance(b, Refused) and b.reason == "share_limit"
    assert len(engine.commits) == 1
    assert stored(engine, "a").state is State.GRANTED and stored(engine, "c").state is State.GRANTED


def test_a_group_whose_commit_fails_acknowledges_nothing_and_memory_goes_back_to_the_store(engine):
    async def scenario():
        await engine.change(submit("kept", "s0"), "submit")
        with LockedSQLite(engine.path):
            answers = await asyncio.gather(*(engine.change(submit(f"g{i}", f"s{i + 1}"), "submit")
                                             for i in range(10)), return_exceptions=True)
            assert all(isinstance(a, APIError) and a.status == 503 for a in answers), answers
            for i in range(10):  # the retries are not told "granted" from memory the database never saw
                with pytest.raises(APIError) as doubt:
                    engine.find(f"g{i}")
                assert doubt.value.status == 503
            with pytest.raises(APIError):  # nor is any other change made while the store is down
                await engine.change(submit("later", "s20"), "submit")
        assert await engine.recover()
        adm = engine.current()
        assert [r.id for r in adm.granted()] == ["kept"]  # memory is the database again
        assert all(engine.find(f"g{i}") is None for i in range(10))

    asyncio.run(scenario())


def test_a_group_the_database_refuses_is_made_again_one_by_one_so_only_the_bad_change_fails(engine):
    now = time.time()

    reserve_nan = poisoned_reservation(now)

    async def scenario():
        return await asyncio.gather(engine.change(submit("a", "s1"), "submit"), engine.change(reserve_nan, "reserve"),
                                    engine.change(submit("b", "s2"), "submit"), return_exceptions=True)

    a, bad, b = asyncio.run(scenario())
    assert isinstance(bad, APIError) and bad.status == 400 and bad.reason == "data_refused"
    assert a.state is State.GRANTED and b.state is State.GRANTED
    assert engine.available
    assert stored(engine, "a").state is State.GRANTED and stored(engine, "b").state is State.GRANTED
    assert "poisoned" not in engine.current().reservations


def test_a_change_that_fails_half_way_in_a_group_leaves_nothing_and_the_others_are_made(engine):
    def half_way(adm):
        adm.submit("s9", ["course-demo"], "npu-quarter", request_id="half")
        raise RuntimeError("a bug after the change")

    async def scenario():
        return await asyncio.gather(engine.change(submit("a", "s1"), "submit"), engine.change(half_way, "submit"),
                                    engine.change(submit("b", "s2"), "submit"), return_exceptions=True)

    a, broken, b = asyncio.run(scenario())
    assert isinstance(broken, RuntimeError)
    assert a.state is State.GRANTED and b.state is State.GRANTED
    assert stored(engine, "a") is not None and stored(engine, "b") is not None
    assert stored(engine, "half") is None and engine.find("half") is None
    assert [r.id for r in engine.current().granted()] == ["a", "b"]


# -- a group is the same as its changes one by one -----------------------------------------------------------------

from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from support.sites import write_site  # noqa: E402

USERS = [f"s{i}" for i in range(12)] + ["labmember1"]
FLAVORS = ["npu-quarter", "npu-quarter", "npu-quarter", "cpu", "npu-eighth"]  # npu-eighth: not on this site
submit_op = st.tuples(st.just("submit"), st.integers(0, len(USERS) - 1), st.sampled_from(FLAVORS))
operation = st.one_of(submit_op, submit_op, submit_op, st.tuples(st.just("end"), st.integers(0, 40), st.just("")))


def outcome(answer) -> tuple:
    if isinstance(answer, BaseException):
        return ("raised", type(answer).__name__, getattr(answer, "reason", None))
    if answer is None:
        return ("none",)
    if hasattr(answer, "position"):
        return ("decision", answer.request, answer.state, answer.reason, answer.position, answer.eta)
    return ("request", answer.id, answer.state, answer.reason)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operation, min_size=10, max_size=40))
def test_a_group_answers_and_stores_exactly_what_its_changes_one_by_one_would(tmp_path_factory, ops):
    """Each caller of a group sees its own outcome as if it had been alone, in order; the store ends the same."""
    now = 1_790_000_000.0

    def make(name):
        folder = tmp_path_factory.mktemp(name)
        path = folder / "admission.sqlite"
        # one device: a queue forms after four quarters, so positions, estimates and grants on release count
        site = load_site_config(write_site(folder / "npuhub.yaml", nodes=1, devices_per_node=1))
        eng = Engine(AdmissionStore(f"sqlite:///{path}"), site,
                     lambda: {"budgets": Budgets(rules=[]), "fairshare": FairShare(half_life=86400.0)}, Metrics(),
                     clock=lambda: now)
        return eng

    def change(i, op):
        kind, who, flavor = op
        if kind == "submit":
            groups = ["lab-demo"] if USERS[who] == "labmember1" else ["course-demo"]
            return lambda adm: adm.submit(USERS[who], groups, flavor, request_id=f"r{i}")

        def end(adm):
            # a request that already ended gives nothing new: alone it has left memory (None), in a group it is
            # still there until the commit (the same finished request); the API answers both from the store
            live = adm.requests.get(f"r{who}")
            ended = adm.end(f"r{who}", by="someone")
            return None if live is None or live.state.final else ended
        return end

    async def one_by_one(eng):
        out = []
        for i, op in enumerate(ops):
            try:
                out.append(await eng.change(change(i, op)))
            except Exception as e:  # noqa: BLE001 (compared, not handled)
                out.append(e)
        return out

    async def together(eng):
        return await asyncio.gather(*(eng.change(change(i, op)) for i, op in enumerate(ops)), return_exceptions=True)

    results = []
    for name, drive in (("alone", one_by_one), ("group", together)):
        eng = make(name)
        try:
            assert asyncio.run(eng.load())
            answers = asyncio.run(drive(eng))
            rows = {r.id: (r.user, r.state, r.reason, r.seq, r.grant.share if r.grant else None,
                           sorted((s.node, s.device, s.fraction) for s in r.grant.slices) if r.grant else None)
                    for r in eng.store.requests(limit=1000)}
            results.append(([outcome(a) for a in answers], rows, eng.groups))
        finally:
            eng.close()
    (alone, alone_rows, alone_groups), (group, group_rows, group_groups) = results
    assert group == alone
    assert group_rows == alone_rows
    event("a queue formed" if any(a[0] == "decision" and a[2] is State.WAITING for a in alone) else "no queue")
    assert group_groups == 1 and alone_groups == len(ops)
