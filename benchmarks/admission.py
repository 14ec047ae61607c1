"""Admission throughput with 10,000 waiting requests: in memory, on SQLite and on PostgreSQL, side by side.

Two operations, each timed on each backend:
- admit: a running session ends and the next request in line is admitted
  (one release + one grant decision, committed in one transaction);
- submit: a new request joins the 10,000-long queue and is told its position
  and estimated start (committed in one transaction).

Two workloads (``--workload``, default both, reported side by side):
- stress: the queue is filled at once, then 300 sessions end one after the
  other, then 300 requests join; the clock moves 1 ms per read, so sessions
  look about a minute long and one becomes *overdue* (older than the mean
  session length) at about every other join, which re-runs the estimate of
  the whole queue;
- realistic: the pool has been full for hours, sessions last about an hour
  (lognormal, mean ``--session-minutes``), the mean the core has learnt comes
  from about two thousand such sessions ending, requests join every
  ``--join-every`` seconds on average and sessions end when their time is up;
  the timed stretch runs until 300 sessions have ended, timing every join and
  every end in it.

For both, the table says how many timed joins re-ran the estimate of the
whole queue, and why (the core's own counts, ``Admission.stats``).

First, unless ``--durable ''`` is given, a *durable* section on each store:
admits and joins through the service's engine (``Engine.change``, group
commit) with 1, 64 ... callers in flight at once, each answered once its own
change is durable, beside the store's single-row durable commit rate measured
in the same run (``group_commit.py``).
PostgreSQL is the one on 127.0.0.1:5432 (set NPUHUB_BENCH_POSTGRES to another URL).
The timed loops do nothing but the operation, its commit and the
benchmark's own note of which session ends when.
Run: make bench (or .venv/bin/python benchmarks/admission.py --help).
"""

from __future__ import annotations

import argparse
import heapq
import math
import os
import platform
import random
import tempfile
import time
import uuid
from collections import Counter, deque
from contextlib import contextmanager
from typing import Callable, Iterator

import sqlalchemy as sa

from npuhub.admission.core import Admission
from npuhub.admission.model import State
from npuhub.admission.store import AdmissionStore
from npuhub.site_config import parse_site_config

from group_commit import durable

SITE = parse_site_config({
    "pool": [{"model": "Ascend 910B", "nodes": 16, "devices_per_node": 8, "node_prefix": "n"}],
    "groups": {f"course-{i}": {"kind": "course"} for i in range(20)},
    "flavors": [{"id": "quarter", "cpu": 1, "memory": "1G", "accelerator": {"model": "Ascend 910B", "share": "1/4"}}],
    "limits": {"max_share": 1},
})
SLOTS = 512  # 128 devices in quarters
START = 1_700_000_000.0


class Clock:
    """The stress workload's clock: 1 ms more at every read."""

    def __init__(self):
        self.now = START

    def __call__(self):
        self.now += 0.001
        return self.now


class SimClock:
    """The realistic workload's clock: set to each event's time; a read moves it 1 µs, as a real clock moves."""

    def __init__(self, now: float):
        self.now = now

    def __call__(self):
        self.now += 1e-6
        return self.now

    def advance_to(self, at: float) -> None:
        self.now = max(self.now, at)


class Resims:
    """Counts full re-runs of the kept queue simulation, from the core's own counts (``Admission.stats``).

    ``last`` is why the latest one was needed: ``changed`` (something it
    read changed: a grant, a release, the queue order refreshed), ``overdue``
    (the clock passed the time a running session becomes overdue) or
    ``clock`` (the clock moved further than the simulation's comparisons
    allow). ``order_rebuilds`` counts the queue order's refreshes (every
    ``Admission.ORDER_TTL`` seconds). Counted from ``installed()`` on.
    """

    def __init__(self, adm: Admission):
        self.stats = adm.stats
        self._since = (self.stats.simulations, self.stats.order_rebuilds)

    @contextmanager
    def installed(self) -> Iterator["Resims"]:
        self._since = (self.stats.simulations, self.stats.order_rebuilds)
        yield self

    @property
    def count(self) -> int:
        return self.stats.simulations - self._since[0]

    @property
    def order_rebuilds(self) -> int:
        return self.stats.order_rebuilds - self._since[1]

    @property
    def last(self) -> str | None:
        return self.stats.last_cause


class Backend:
    """An Admission in memory or on a store, and its commit (timed apart)."""

    def __init__(self, name: str, url: str | None, clock: Callable[[], float]):
        self.name = name
        self.store = AdmissionStore(url) if url else None
        self.adm = self.store.open(SITE, clock) if self.store else Admission(SITE, clock)
        self.commit_s = 0.0

    def commit(self) -> None:
        started = time.perf_counter()
        if self.store:
            self.store.commit(self.adm)
        else:
            self.adm.dirty.clear()
        self.commit_s += time.perf_counter() - started

    def close(self) -> None:
        if self.store:
            self.store.close()


def stress(backend: Backend, clock: Clock, waiting: int, ops: int, _args) -> dict:
    adm, commit = backend.adm, backend.commit
    users = 0

    def submit():
        nonlocal users
        users += 1
        return adm.submit(f"u{users}", {f"course-{users % 20}"}, "quarter")

    for _ in range(SLOTS + waiting):  # fill the 128 devices (512 quarters), then the queue
        submit()
    running = deque(r.id for r in sorted(adm.granted(), key=lambda r: r.granted_at))  # oldest first
    commit()
    assert len(adm.waiting()) == waiting and len(running) == SLOTS

    backend.commit_s = 0.0
    started = time.perf_counter()
    for _ in range(ops):
        adm.release(running.popleft())  # frees a quarter; the head of the queue is admitted
        running.extend(rid for rid in adm.dirty if adm.requests[rid].state is State.GRANTED)
        commit()
    admit_s, admit_commit = time.perf_counter() - started, backend.commit_s
    assert len(running) == SLOTS

    resims, causes, split = Resims(adm), Counter(), Counter()
    backend.commit_s = 0.0
    with resims.installed():
        started = time.perf_counter()
        for _ in range(ops):
            before, began = resims.count, time.perf_counter()
            decision = submit()
            assert decision.position is not None
            commit()
            rerun = resims.count != before
            split[rerun] += time.perf_counter() - began
            if rerun:
                causes[resims.last] += 1
        submit_s = time.perf_counter() - started
    return {"admits": ops, "submits": ops, "admit_s": admit_s, "submit_s": submit_s,
            "admit_commit_s": admit_commit, "submit_commit_s": backend.commit_s, "causes": causes,
            "split_s": split, "waiting": (waiting, len(adm.waiting())), "mean": adm.snapshot().session_mean,
            "order_rebuilds": resims.order_rebuilds}


def realistic(backend: Backend, clock: SimClock, waiting: int, ops: int, args) -> dict:
    """A pool full for hours with hour-long sessions; requests join every ``join_every`` s, sessions end on time.

    History (untimed): the 512 quarters are granted one every 7 s over an
    hour, HISTORY_HOURS before the queue starts to form; whoever's session
    ends is replaced at once (nobody waits yet). Each session lasts a
    lognormal time (mean ``session_minutes``, sigma 0.5: half of them between
    about 38 and 74 minutes at the default). Every end updates the core's
    mean session length, as it does in service. Then requests join (Poisson,
    every ``join_every`` s on average) while sessions keep ending, until
    ``waiting`` wait. Timed: the same stream goes on until ``ops`` sessions
    have ended; every join and every end in it is timed, each with its commit.
    """
    adm = backend.adm
    rng = random.Random(1)
    mean_s = 60 * args.session_minutes
    mu = math.log(mean_s) - 0.5 ** 2 / 2  # lognormal with mean mean_s
    ends: list[tuple[float, str]] = []  # (when it will end, request id) of running sessions
    noted: set[str] = set()
    in_queue: set[str] = set()
    users = 0

    def note_grants(changed) -> None:
        """Draw when newly granted sessions end (the benchmark's bookkeeping, not the centre's)."""
        for rid in changed:
            req = adm.requests.get(rid)
            if req is not None and req.state is State.GRANTED and rid not in noted:
                noted.add(rid)
                heapq.heappush(ends, (req.granted_at + rng.lognormvariate(mu, 0.5), rid))
                in_queue.discard(rid)

    def join():
        nonlocal users
        users += 1
        decision = adm.submit(f"u{users}", {f"course-{users % 20}"}, "quarter")
        if decision.state is State.WAITING:
            in_queue.add(decision.request)
        return decision

    pending: set[str] = set()  # changed ids not yet committed, while the untimed phases skip commits

    def untimed(event: Callable[[], object]) -> None:
        event()
        changed, adm.dirty = adm.dirty, set()
        note_grants(changed)
        pending.update(changed)

    # history: the pool fills over an hour, then sessions end and are replaced at once
    for i in range(SLOTS):
        clock.advance_to(START + i * 3600 / SLOTS)
        untimed(join)
    queue_opens = START + 3600 * HISTORY_HOURS
    releases = 0
    while ends[0][0] < queue_opens:
        at, rid = heapq.heappop(ends)
        clock.advance_to(at)
        untimed(lambda: adm.release(rid))
        untimed(join)
        releases += 1
    # the queue forms: joins every join_every s on average, sessions end on time
    next_join = queue_opens + rng.expovariate(1 / args.join_every)
    while len(in_queue) < waiting:
        if ends[0][0] <= next_join:
            at, rid = heapq.heappop(ends)
            clock.advance_to(at)
            untimed(lambda: adm.release(rid))
            releases += 1
        else:
            clock.advance_to(next_join)
            untimed(join)
            next_join += rng.expovariate(1 / args.join_every)
    adm.dirty |= pending
    backend.commit()
    assert len(in_queue) == waiting == len(adm.waiting()) and len(adm.granted()) == SLOTS
    mean_before, releases_before, opened = adm.snapshot().session_mean, releases, clock.now

    resims, causes, split = Resims(adm), Counter(), Counter()
    admits = submits = 0
    admit_s = submit_s = admit_commit = submit_commit = 0.0
    released_since_join = False
    with resims.installed():
        while admits < ops:
            if ends[0][0] <= next_join:
                at, rid = heapq.heappop(ends)
                clock.advance_to(at)
                backend.commit_s = 0.0
                started = time.perf_counter()
                adm.release(rid)  # frees a quarter; the head of the queue is admitted
                note_grants(adm.dirty)
                backend.commit()
                admit_s += time.perf_counter() - started
                admit_commit += backend.commit_s
                admits += 1
                released_since_join = True
            else:
                clock.advance_to(next_join)
                before = resims.count
                backend.commit_s = 0.0
                started = time.perf_counter()
                decision = join()
                backend.commit()
                took = time.perf_counter() - started
                submit_s += took
                submit_commit += backend.commit_s
                assert decision.position is not None
                submits += 1
                split[resims.count != before] += took
                if resims.count != before:
                    # a release since the last join changes the kept simulation; say so rather than "changed"
                    causes["release" if released_since_join and resims.last == "changed" else resims.last] += 1
                released_since_join = False
                next_join += rng.expovariate(1 / args.join_every)
    return {"admits": admits, "submits": submits, "admit_s": admit_s, "submit_s": submit_s,
            "admit_commit_s": admit_commit, "submit_commit_s": submit_commit, "causes": causes,
            "split_s": split, "waiting": (waiting, len(in_queue)), "mean": mean_before,
            "releases_before": releases_before, "span": clock.now - opened, "order_rebuilds": resims.order_rebuilds,
            "accounts_with_usage": len(adm.fairshare.snapshot(clock.now))}


#: hours of history (the pool full, nobody waiting) before the queue starts to form
HISTORY_HOURS = 3
WORKLOADS = {"stress": (stress, Clock), "realistic": (realistic, lambda: SimClock(START))}


def run(workload: str, backend: str, url: str | None, waiting: int, ops: int, args) -> dict:
    measure, make_clock = WORKLOADS[workload]
    clock = make_clock()
    b = Backend(backend, url, clock)
    try:
        result = measure(b, clock, waiting, ops, args)
    finally:
        b.close()
    result.update(backend=backend, admit=result["admits"] / result["admit_s"],
                  submit=result["submits"] / result["submit_s"],
                  admit_commit_ms=1000 * result["admit_commit_s"] / result["admits"],
                  submit_commit_ms=1000 * result["submit_commit_s"] / result["submits"])
    return result


def run_postgres(workload: str, waiting: int, ops: int, args, measure: Callable | None = None) -> dict | None:
    """``measure(url)`` (by default the workload's run) on a fresh PostgreSQL database, dropped afterwards."""
    pg_admin = os.environ.get("NPUHUB_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    name = f"npuhub_bench_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(pg_admin, isolation_level="AUTOCOMMIT")
    measure = measure or (lambda url: run(workload, "postgresql", url, waiting, ops, args))
    try:
        with engine.connect() as db:
            db.execute(sa.text(f'CREATE DATABASE "{name}"'))
        return measure(pg_admin.rsplit("/", 1)[0] + "/" + name)
    except sa.exc.OperationalError as e:
        print(f"postgresql: skipped ({str(e).splitlines()[0]})")
        return None
    finally:
        with engine.connect() as db:
            db.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        engine.dispose()


def measure_all(workload: str, backends: list[str], waiting: int, ops: int, args) -> list[dict]:
    results = []
    if "memory" in backends:
        results.append(run(workload, "memory", None, waiting, ops, args))
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory() as tmp:
            results.append(run(workload, "sqlite", f"sqlite:///{tmp}/bench.sqlite", waiting, ops, args))
    if "postgresql" in backends:
        results.append(run_postgres(workload, waiting, ops, args))
    return [r for r in results if r]


def measure_durable(backends: list[str], waiting: int, ops: int, concurrencies: list[int]) -> None:
    """Group commit through the engine on each store, beside that store's single-row commit limit."""
    print(f"durable, through the service's engine (group commit); real clock; {waiting} waiting; {ops} admits and "
          f"{ops} joins per row; c = callers in flight at once")
    print(f"{'backend':>10} {'limit/s':>8} {'c':>4} {'admit/s':>8} {'x limit':>7} {'group':>6} "
          f"{'join/s':>8} {'x limit':>7} {'group':>6} {'re-runs':>7}")
    for backend in backends:
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                result = durable(f"sqlite:///{tmp}/bench.sqlite", SITE, SLOTS, waiting, ops, concurrencies)
        elif backend == "postgresql":
            result = run_postgres("durable", waiting, ops, None,
                                  lambda url: durable(url, SITE, SLOTS, waiting, ops, concurrencies))
            if result is None:
                continue
        else:
            continue
        for i, row in enumerate(result["runs"]):
            limit = (result["limits"][i] + result["limits"][i + 1]) / 2
            print(f"{backend:>10} {limit:>8.0f} {row['concurrency']:>4} {row['admit']:>8.0f} "
                  f"{row['admit'] / limit:>7.2f} {row['admit_group']:>6.1f} {row['join']:>8.0f} "
                  f"{row['join'] / limit:>7.2f} {row['join_group']:>6.1f} {row['join_resims']:>7}")


def report(workload: str, results: list[dict]) -> None:
    base = results[0]
    if workload == "stress":
        print(f"stress: clock +1 ms per read; mean session length learnt: {base['mean']:.0f} s")
    else:
        print(f"realistic: mean session length learnt {base['mean'] / 60:.0f} min from {base['releases_before']} "
              f"ends; {base['submits']} joins and {base['admits']} ends timed over {base['span'] / 60:.0f} min "
              f"of simulated time; waiting {base['waiting'][0]} -> {base['waiting'][1]}; queue order refreshed "
              f"{base['order_rebuilds']} times; {base['accounts_with_usage']} accounts with usage at the end")
    print(f"{'backend':>10} {'admit/s':>8} {'submit/s':>8}  {'commit ms':>9} {'(admit, submit)':<15}  "
          f"{'ratio to ' + base['backend']:>16}  {'submit ms':>9} {'(re-ran, extended)':<18}  "
          f"joins that re-ran the estimate (why)")
    for r in results:
        rerun = sum(r["causes"].values())
        extended = r["submits"] - rerun
        causes = ", ".join(f"{n} {cause}" for cause, n in r["causes"].most_common())
        rerun_ms = f"{1000 * r['split_s'][True] / rerun:.2f}" if rerun else "-"
        extended_ms = f"{1000 * r['split_s'][False] / extended:.2f}" if extended else "-"
        print(f"{r['backend']:>10} {r['admit']:>8.0f} {r['submit']:>8.0f}  "
              f"{r['admit_commit_ms']:>9.2f} {r['submit_commit_ms']:>6.2f}{'':>9}  "
              f"{r['admit'] / base['admit']:>10.2f}, {r['submit'] / base['submit']:.2f}  "
              f"{rerun_ms:>9} {extended_ms:>6}{'':>12}  "
              f"{rerun} of {r['submits']} ({causes or 'none'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("waiting", nargs="?", type=int, default=10_000, help="requests waiting (default 10000)")
    parser.add_argument("--ops", type=int, default=300,
                        help="operations of each kind timed (default 300); realistic: sessions ending, "
                             "with every join in between also timed")
    parser.add_argument("--backends", default="memory,sqlite,postgresql",
                        help="comma-separated, of memory, sqlite, postgresql (default: all three)")
    parser.add_argument("--workload", choices=("stress", "realistic", "both", "none"), default="both",
                        help="which workload to run (default both, side by side; none: only the durable section)")
    parser.add_argument("--join-every", type=float, default=0.5,
                        help="realistic: mean seconds between joins (default 0.5)")
    parser.add_argument("--session-minutes", type=float, default=60.0,
                        help="realistic: mean session length in minutes (default 60)")
    parser.add_argument("--durable", default="1,64",
                        help="callers in flight at once for the durable (group commit) section, comma-separated "
                             "(default 1,64; empty: skip it)")
    parser.add_argument("--durable-ops", type=int, default=2000,
                        help="durable section: admits and joins timed per row (default 2000)")
    args = parser.parse_args()
    waiting, ops, backends = args.waiting, args.ops, args.backends.split(",")
    workloads = {"both": ["stress", "realistic"], "none": []}.get(args.workload, [args.workload])
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}; "
          f"{waiting} waiting, 128 devices full, {ops} operations each")
    if args.durable:
        measure_durable([b for b in backends if b != "memory"], waiting, args.durable_ops,
                        [int(c) for c in args.durable.split(",")])
    measured = {}
    for workload in workloads:
        measured[workload] = measure_all(workload, backends, waiting, ops, args)
        report(workload, measured[workload])
    if len(measured) == 2:
        print("realistic / stress (admit, submit): " + "; ".join(
            f"{r['backend']} x{r['admit'] / s['admit']:.2f}, x{r['submit'] / s['submit']:.2f}"
            for s, r in zip(measured["stress"], measured["realistic"])))


if __name__ == "__main__":
    main()
