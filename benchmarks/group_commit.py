"""Durable admission through the service's engine (group commit), next to the store's own commit-rate limit.

Part of ``benchmarks/admission.py`` (its ``--durable`` section); one store at a
time. The state: 10,000 requests wait behind 128 devices held in quarters (512
sessions, granted one every 7 s over the last hour, so the oldest become
overdue during the run as they would in service). Timed, on the real clock:

- *limit*: single-row durable commits a second on the same store (an insert
  of one row, its own transaction, in a scratch table): what the disk and the
  database allow one transaction at a time; measured before the first row and
  after each, and each row is compared with the mean of the two around it;
- *admits*: a session ends and the head of the queue is admitted
  (``Admission.release`` through ``Engine.change``), with ``c`` callers in
  flight at once: each is answered when its own change is durable;
- *joins*: a new request joins the queue and is told its position and
  estimate (``Admission.submit`` through ``Engine.change``), ``c`` at a time.

``c = 1`` is the old behaviour (one transaction per change); ``c > 1`` lets
changes arrive together, so they are committed together.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from itertools import count

import sqlalchemy as sa

from npuhub.admission.core import Admission
from npuhub.admission.model import State
from npuhub.admission.store import AdmissionStore
from npuhub.service.engine import Engine
from npuhub.service.metrics import Metrics
from npuhub.site_config import SiteConfig

__all__ = ["commit_limit", "durable"]


def commit_limit(store: AdmissionStore, n: int = 1000) -> float:
    """Single-row durable commits a second on ``store``'s database (its engine, so its settings: WAL on SQLite)."""
    probe = sa.Table("bench_commit_probe", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("value", sa.String(64)))
    probe.create(store.engine, checkfirst=True)
    statement = sa.insert(probe)
    with store.engine.connect() as db:
        started = time.perf_counter()
        for i in range(n):
            db.execute(statement, {"id": i, "value": "x" * 40})
            db.commit()
        took = time.perf_counter() - started
    probe.drop(store.engine)
    return n / took


def prefill(url: str, site: SiteConfig, slots: int, waiting: int) -> None:
    """Grant ``slots`` sessions over the last hour, then queue ``waiting`` requests; one commit."""
    now = time.time()
    clock_at = [now - 3600.0]
    store = AdmissionStore(url)
    adm = store.open(site, lambda: clock_at[0])
    for i in range(slots + waiting):
        clock_at[0] = now - 3600.0 + min(i, slots) * 3600.0 / slots
        adm.submit(f"u{i}", {f"course-{i % 20}"}, "quarter")
    store.commit(adm)
    store.close()


async def _drive(engine: Engine, make_op, ops: int, concurrency: int) -> float:
    """Run ``ops`` changes, ``concurrency`` callers at a time, each awaiting its own; returns seconds."""
    issued = count()

    async def caller():
        while next(issued) < ops:
            await engine.change(make_op(), "bench")

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return time.perf_counter() - started


def durable(url: str, site: SiteConfig, slots: int, waiting: int, ops: int, concurrencies: list[int]) -> dict:
    """Admits and joins a second through the engine at each concurrency, and the store's commit limit."""
    prefill(url, site, slots, waiting)
    store = AdmissionStore(url)
    engine = Engine(store, site, dict, Metrics())
    result = {"limits": [commit_limit(store)], "runs": []}

    async def run() -> None:
        assert await engine.load()
        adm: Admission = engine.adm
        running = deque(r.id for r in adm.granted())  # oldest first
        assert len(running) == slots and len(adm.waiting()) == waiting
        users = count(slots + waiting)

        def admit():
            def fn(adm: Admission):
                before = set(adm.dirty)
                adm.release(running.popleft())  # frees a quarter: the head of the queue is admitted
                running.extend(rid for rid in adm.dirty - before if adm.requests[rid].state is State.GRANTED)
            return fn

        def join():
            user = next(users)

            def fn(adm: Admission):
                decision = adm.submit(f"u{user}", {f"course-{user % 20}"}, "quarter")
                assert decision.position is not None
                return decision
            return fn

        for c in concurrencies:
            row = {"concurrency": c}
            for name, make in (("admit", admit), ("join", join)):
                groups, grouped, sims = engine.groups, engine.grouped, adm.stats.simulations
                took = await _drive(engine, make, ops, c)
                row[name] = ops / took
                row[name + "_group"] = (engine.grouped - grouped) / max(1, engine.groups - groups)
                row[name + "_resims"] = adm.stats.simulations - sims
            result["runs"].append(row)
            result["limits"].append(commit_limit(store))  # the machine's load drifts: measured between rows
        result["waiting_after"] = len(adm.waiting())

    try:
        asyncio.run(run())
    finally:
        engine.close()
    return result
