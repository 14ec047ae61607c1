"""Dask clusters of npuhub against plain ``distributed.LocalCluster(processes=True)``, side by side in one run.

The real embedded stack (hub + proxy + the hub-managed npuhub service with its
embedded runner) on loopback; a lab member's token; the client in this process
(as a notebook would run it). Rounds alternate npuhub and LocalCluster, each
with 4 single-threaded worker processes; per round:
- ready:  from ``cluster(workers=4)`` / ``LocalCluster(n_workers=4)`` to 4 workers joined (``wait_for_workers``);
- first:  from the same start to the first result of one task;
- tasks/s: no-op tasks per second once running (``client.map`` of N tasks, gathered), best of 3 batches.
Reported: medians per side and the ratios npuhub/LocalCluster (aims: ready <= 1.3x, throughput >= 0.95x).
Run: .venv/bin/python benchmarks/dask_cluster.py [rounds] [tasks]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from hubstack import Hub

SITE = {
    "pool": [{"model": "Ascend 910B", "nodes": 1, "devices_per_node": 2}],
    "groups": {"course-demo": {"kind": "course"}, "lab-demo": {"kind": "lab"}, "teachers": {"kind": "role"},
               "admins": {"kind": "role"}},
    "flavors": [{"id": "cpu", "cpu": 1, "memory": "1G"},
                {"id": "npu-quarter", "cpu": 1, "memory": "2G", "default": True,
                 "accelerator": {"model": "Ascend 910B", "share": "1/4"}}],
    "limits": {"max_share": 2},
    # the benchmark's person has no Unix account (no notebook server): its processes run as this user
    "isolation": {"mode": "shared"},
    "dask": {"default_flavor": "npu-quarter", "max_workers": 8},
}
WORKERS = 4


def noop(x):
    return x


def measure(make, tasks: int) -> dict:
    from distributed import Client

    start = time.perf_counter()
    cluster = make()
    client = Client(cluster)
    try:
        client.wait_for_workers(WORKERS, timeout=120)
        ready = time.perf_counter() - start
        client.submit(noop, 1, pure=False).result()
        first = time.perf_counter() - start
        rates = []
        for batch in range(3):
            t = time.perf_counter()
            client.gather(client.map(noop, range(batch * tasks, (batch + 1) * tasks)))
            rates.append(tasks / (time.perf_counter() - t))
        return {"ready": ready, "first": first, "rate": max(rates)}
    finally:
        client.close()
        cluster.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("rounds", nargs="?", type=int, default=3)
    parser.add_argument("tasks", nargs="?", type=int, default=2000)
    args = parser.parse_args()
    from distributed import LocalCluster

    from npuhub.dask.api import ServiceAPI
    from npuhub.dask.npucluster import NPUCluster

    with tempfile.TemporaryDirectory() as tmp:
        hub = Hub(Path(tmp), SITE, "").start()
        try:
            api = ServiceAPI(hub.base_url + "/services/npuhub/", hub.token("labmember1"))

            def npuhub_cluster():
                return NPUCluster(workers=WORKERS, api=api)

            def local_cluster():
                return LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True,
                                    dashboard_address="127.0.0.1:0")  # a dashboard, as npuhub's scheduler has

            results = {"npuhub": [], "LocalCluster": []}
            measure(local_cluster, 200)  # warm the file cache for both sides alike
            for _ in range(args.rounds):
                results["npuhub"].append(measure(npuhub_cluster, args.tasks))
                results["LocalCluster"].append(measure(local_cluster, args.tasks))
        finally:
            hub.stop()
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    print(f"machine: {os.cpu_count()} cores, {cpu}, {platform.machine()}, CPython {platform.python_version()}")
    print(f"{WORKERS} workers x 1 thread, {args.rounds} rounds (medians), {args.tasks} no-op tasks per batch")
    print(f"{'':>14} {'ready s':>8} {'first s':>8} {'tasks/s':>8}")
    med = {}
    for side, rows in results.items():
        med[side] = {k: statistics.median(r[k] for r in rows) for k in ("ready", "first", "rate")}
        print(f"{side:>14} {med[side]['ready']:8.2f} {med[side]['first']:8.2f} {med[side]['rate']:8.0f}")
    a, b = med["npuhub"], med["LocalCluster"]
    print(f"npuhub/LocalCluster: ready x{a['ready'] / b['ready']:.2f} (aim <= 1.3), "
          f"first result x{a['first'] / b['first']:.2f}, throughput x{a['rate'] / b['rate']:.2f} (aim >= 0.95)")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
