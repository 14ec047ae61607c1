"""Admission throughput with 10,000 waiting requests: in memory, on SQLite and on PostgreSQL, side by side.

Two operations, each timed over the same seeded workload on each backend:
- admit: a running session ends and the next request in line is admitted
  (one release + one grant decision, committed in one transaction);
- submit: a new request joins the 10,000-long queue and is told its position
  and estimated start (committed in one transaction).
PostgreSQL is the one on 127.0.0.1:5432 (set NPUHUB_BENCH_POSTGRES to another URL).
Run: make bench (or .venv/bin/python benchmarks/admission.py [waiting]).
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
import uuid

import sqlalchemy as sa

from npuhub.admission.core import Admission
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
    store = AdmissionStore(url) if url else None
    adm = store.open(SITE, clock) if store else Admission(SITE, clock)
    commit = (lambda: store.commit(adm)) if store else (lambda: adm.dirty.clear())
    users = 0

    def submit():
        nonlocal users
        users += 1
        return adm.submit(f"u{users}", {f"course-{users % 20}"}, "quarter")

    for _ in range(512 + waiting):  # fill the 128 devices (512 quarters), then the queue
        submit()
    commit()
    assert len(adm.waiting()) == waiting

    started = time.perf_counter()
    for _ in range(ops):
        oldest = min(adm.granted(), key=lambda r: r.granted_at)
        adm.release(oldest.id)  # frees a quarter; the head of the queue is admitted
        commit()
    admit = ops / (time.perf_counter() - started)

    started = time.perf_counter()
    for _ in range(ops):
        decision = submit()
        assert decision.position is not None
        commit()
    joined = ops / (time.perf_counter() - started)
    if store:
        store.close()
    return {"backend": backend, "admit": admit, "submit": joined}


def main() -> None:
    waiting = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    ops = 300
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}; "
          f"{waiting} waiting, 128 devices full, {ops} operations each")
    results = [run("memory", None, waiting, ops)]
    with tempfile.TemporaryDirectory() as tmp:
        results.append(run("sqlite", f"sqlite:///{tmp}/bench.sqlite", waiting, ops))
    pg_admin = os.environ.get("NPUHUB_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    name = f"npuhub_bench_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(pg_admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as db:
            db.execute(sa.text(f'CREATE DATABASE "{name}"'))
        results.append(run("postgresql", pg_admin.rsplit("/", 1)[0] + "/" + name, waiting, ops))
    except sa.exc.OperationalError as e:
        print(f"postgresql: skipped ({str(e).splitlines()[0]})")
    finally:
        with engine.connect() as db:
            db.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        engine.dispose()
    base = results[0]
    print(f"{'backend':>10} {'admit/s':>9} {'submit/s':>9}  ratio to memory (admit, submit)")
    for r in results:
        print(f"{r['backend']:>10} {r['admit']:>9.0f} {r['submit']:>9.0f}  "
              f"{r['admit'] / base['admit']:.2f}, {r['submit'] / base['submit']:.2f}")


if __name__ == "__main__":
    main()
