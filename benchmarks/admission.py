"""Admission throughput with 10,000 waiting requests: in memory, on SQLite and on PostgreSQL, side by side.

Two operations, each timed over the same seeded workload on each backend:
- admit: a running session ends and the next request in line is admitted
  (one release + one grant decision, committed in one transaction);
- submit: a new request joins the 10,000-long queue and is told its position
  and estimated start (committed in one transaction).
PostgreSQL is the one on 127.0.0.1:5432 (set NPUHUB_BENCH_POSTGRES to another URL).
The timed loops do nothing but the operation and its commit: the benchmark
tracks which session is oldest itself (sessions are admitted in order), so it
scans no list of its own.
Run: make bench (or .venv/bin/python benchmarks/admission.py --help).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
import uuid
from collections import deque

import sqlalchemy as sa

from npuhub.admission.core import Admission
from npuhub.admission.model import State
from npuhub.admission.store import AdmissionStore
from npuhub.site_config import parse_site_config

SITE = parse_site_config({
    "pool": [{"model": "Ascend 910B", "nodes": 16, "devices_per_node": 8, "node_prefix": "n"}],
    "groups": {f"course-{i}": {"kind": "course"} for i in range(20)},
    "flavors": [{"id": "quarter", "cpu": 1, "memory": "1G", "accelerator": {"model": "Ascend 910B", "share": "1/4"}}],
    "limits": {"max_share": 1},
})


class Clock:
    def __init__(self):
        self.now = 1_700_000_000.0

    def __call__(self):
        self.now += 0.001
        return self.now


def run(backend: str, url: str | None, waiting: int, ops: int) -> dict:
    clock = Clock()
    timings = {"commit": 0.0}
    store = AdmissionStore(url) if url else None
    adm = store.open(SITE, clock) if store else Admission(SITE, clock)
    users = 0

    def commit():
        started = time.perf_counter()
        if store:
            store.commit(adm)
        else:
            adm.dirty.clear()
        timings["commit"] += time.perf_counter() - started

    def submit():
        nonlocal users
        users += 1
        return adm.submit(f"u{users}", {f"course-{users % 20}"}, "quarter")

    for _ in range(512 + waiting):  # fill the 128 devices (512 quarters), then the queue
        submit()
    running = deque(r.id for r in sorted(adm.granted(), key=lambda r: r.granted_at))  # oldest first
    commit()
    assert len(adm.waiting()) == waiting and len(running) == 512

    timings["commit"] = 0.0
    started = time.perf_counter()
    for _ in range(ops):
        adm.release(running.popleft())  # frees a quarter; the head of the queue is admitted
        running.extend(rid for rid in adm.dirty if adm.requests[rid].state is State.GRANTED)
        commit()
    admit_s, admit_commit = time.perf_counter() - started, timings["commit"]
    assert len(running) == 512

    timings["commit"] = 0.0
    started = time.perf_counter()
    for _ in range(ops):
        decision = submit()
        assert decision.position is not None
        commit()
    submit_s, submit_commit = time.perf_counter() - started, timings["commit"]
    if store:
        store.close()
    return {"backend": backend, "admit": ops / admit_s, "submit": ops / submit_s,
            "admit_commit_ms": 1000 * admit_commit / ops, "submit_commit_ms": 1000 * submit_commit / ops}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("waiting", nargs="?", type=int, default=10_000, help="requests waiting (default 10000)")
    parser.add_argument("--ops", type=int, default=300, help="operations of each kind timed (default 300)")
    parser.add_argument("--backends", default="memory,sqlite,postgresql",
                        help="comma-separated, of memory, sqlite, postgresql (default: all three)")
    args = parser.parse_args()
    waiting, ops, backends = args.waiting, args.ops, args.backends.split(",")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}; "
          f"{waiting} waiting, 128 devices full, {ops} operations each")
    results = []
    if "memory" in backends:
        results.append(run("memory", None, waiting, ops))
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory() as tmp:
            results.append(run("sqlite", f"sqlite:///{tmp}/bench.sqlite", waiting, ops))
    if "postgresql" in backends:
        results.append(run_postgres(waiting, ops))
    results = [r for r in results if r]
    base = results[0]
    print(f"{'backend':>10} {'admit/s':>9} {'submit/s':>9} {'commit ms (admit, submit)':>26}  "
          f"ratio to {base['backend']} (admit, submit)")
    for r in results:
        print(f"{r['backend']:>10} {r['admit']:>9.0f} {r['submit']:>9.0f} "
              f"{r['admit_commit_ms']:>12.2f} {r['submit_commit_ms']:>12.2f}  "
              f"{r['admit'] / base['admit']:.2f}, {r['submit'] / base['submit']:.2f}")


def run_postgres(waiting: int, ops: int) -> dict | None:
    pg_admin = os.environ.get("NPUHUB_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    name = f"npuhub_bench_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(pg_admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as db:
            db.execute(sa.text(f'CREATE DATABASE "{name}"'))
        return run("postgresql", pg_admin.rsplit("/", 1)[0] + "/" + name, waiting, ops)
    except sa.exc.OperationalError as e:
        print(f"postgresql: skipped ({str(e).splitlines()[0]})")
        return None
    finally:
        with engine.connect() as db:
            db.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        engine.dispose()


if __name__ == "__main__":
    main()
