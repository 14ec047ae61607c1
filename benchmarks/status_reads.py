"""Status reads: 1,000 people polling the npuhub service's /me every 10 s, against polling the hub itself.

The real embedded stack (hub + Node proxy + the hub-managed npuhub service, as
`npuhub up` runs it, with 1,000 demo students instead of 40) on loopback. Each
student signs in once (so the hub gives her her groups and the npuhub-user
role) and gets her own API token. Then, side by side in one run, the same
open-loop load (each person one GET every 10 s, spread evenly: ~100 requests/s)
for the same time against:
- service/proxy:  <hub>/services/npuhub/api/v1/me, through the proxy, as the lab extension does;
- service/direct: the service's own port (the proxy left out);
- hub/proxy:      <hub>/hub/api/user, the hub's own "who am I", through the proxy.
Reported: latency p50/p99 (from the scheduled send time, so client-side
queueing counts), CPU seconds of the hub, service, proxy and load-generator
processes (/proc/<pid>/stat utime+stime) and the requests the hub served
during each phase (from its Prometheus counter), per poll.
Run: .venv/bin/python benchmarks/status_reads.py [users] [seconds]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp

from hubstack import Hub

INTERVAL = 10.0
TICK = os.sysconf("SC_CLK_TCK")

#: One node with two devices; what a student may pick.
SITE = {
    "pool": [{"model": "Ascend 910B", "nodes": 1, "devices_per_node": 2, "node_prefix": "node"}],
    "groups": {"course-demo": {"kind": "course"}, "lab-demo": {"kind": "lab"}, "teachers": {"kind": "role"},
               "admins": {"kind": "role"}},
    "flavors": [{"id": "cpu", "cpu": 1, "memory": "1G"},
                {"id": "npu-quarter", "cpu": 1, "memory": "2G", "default": True,
                 "accelerator": {"model": "Ascend 910B", "share": "1/4"}}],
    "limits": {"max_share": 1},
}


def start_hub(workdir: Path, users: int) -> Hub:
    """The embedded stack's hub configuration (managed service included), with ``users`` demo students."""
    return Hub(workdir, SITE, f"c.DemoAuthenticator.students = {users}\n").start()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def children(pid: int) -> dict[int, str]:
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found[int(entry.name)] = cmdline
    return found


def hub_requests(stack: Hub) -> dict[str, float]:
    """The hub's own count of requests it served, by handler (Prometheus)."""
    text = stack.admin_get("metrics").text
    counts: dict[str, float] = {}
    for m in re.finditer(r'^jupyterhub_request_duration_seconds_count\{([^}]*)\} (\S+)$', text, re.M):
        handler = re.search(r'handler="([^"]*)"', m.group(1)).group(1).rsplit(".", 1)[-1]
        counts[handler] = counts.get(handler, 0) + float(m.group(2))
    return counts


async def poll(url: str, tokens: list[str], seconds: float, concurrency: int = 100) -> dict:
    """Open loop: person i asks at i*INTERVAL/n + k*INTERVAL, for k while that is before ``seconds``."""
    n = len(tokens)
    schedule = sorted((i * INTERVAL / n + k * INTERVAL, i)
                      for i in range(n) for k in range(int(seconds // INTERVAL) + 1)
                      if i * INTERVAL / n + k * INTERVAL < seconds)
    latencies: list[float] = []
    codes: dict[int, int] = {}
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        async def one(due: float, token: str):
            try:
                async with http.get(url, headers={"Authorization": f"token {token}"}) as r:
                    await r.read()
                    code = r.status
            except (aiohttp.ClientError, asyncio.TimeoutError):
                code = 599
            latencies.append(time.perf_counter() - due)
            codes[code] = codes.get(code, 0) + 1

        start = time.perf_counter()
        tasks = []
        for offset, i in schedule:
            due = start + offset
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(due, tokens[i])))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    latencies.sort()
    return {"requests": len(schedule), "elapsed": elapsed, "codes": codes,
            "p50": statistics.median(latencies), "p99": latencies[int(0.99 * (len(latencies) - 1))],
            "max": latencies[-1]}


def phase(name: str, url: str, tokens: list[str], seconds: float, stack, pids: dict[str, int]) -> dict:
    before_cpu = {k: cpu_seconds(p) for k, p in pids.items()}
    before_hub = hub_requests(stack)
    result = asyncio.run(poll(url, tokens, seconds))
    after_cpu = {k: cpu_seconds(p) for k, p in pids.items()}
    after_hub = hub_requests(stack)
    result["name"] = name
    result["cpu"] = {k: after_cpu[k] - before_cpu[k] for k in pids}
    # minus the one /hub/metrics read that is counted in "after"
    delta = {h: after_hub.get(h, 0) - before_hub.get(h, 0) for h in after_hub}
    delta["MetricsHandler"] = delta.get("MetricsHandler", 0) - 1
    result["hub_requests"] = sum(delta.values())
    result["hub_whoami"] = delta.get("SelfAPIHandler", 0)
    result["hub_by_handler"] = {h: int(v) for h, v in delta.items() if v}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("users", type=int, nargs="?", default=1000, help="people polling (default: %(default)s)")
    parser.add_argument("seconds", type=float, nargs="?", default=60, help="length of each phase (default: %(default)s)")
    args = parser.parse_args()
    users, seconds = args.users, args.seconds
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}; "
          f"{users} people, one GET each every {INTERVAL:.0f} s ({users / INTERVAL:.0f}/s) for {seconds:.0f} s per phase")
    with tempfile.TemporaryDirectory() as tmp:
        stack = start_hub(Path(tmp), users)
        try:
            t0 = time.perf_counter()
            names = [f"student{i}" for i in range(1, users + 1)]
            with ThreadPoolExecutor(8) as pool:
                tokens = list(pool.map(stack.token, names))
            print(f"signed in {users} people and made their tokens in {time.perf_counter() - t0:.0f} s")
            service = stack.admin_get("api/services").json()["npuhub"]
            hub_pid = stack.proc.pid
            kids = children(hub_pid)
            pids = {"hub": hub_pid,
                    "service": next(p for p, c in kids.items() if "npuhub.service" in c),
                    "proxy": next(p for p, c in kids.items() if "configurable-http-proxy" in c or "node" in c),
                    "client": os.getpid()}
            prefix = "/services/npuhub/api/v1/me"
            phases = [
                ("service/proxy", stack.base_url + prefix),
                ("service/direct", service["url"].rstrip("/") + prefix),
                ("hub/proxy", stack.base_url + "/hub/api/user"),
            ]
            results = []
            for name, url in phases:
                r = phase(name, url, tokens, seconds, stack, pids)
                results.append(r)
                print(f"  {name}: {r['requests']} requests in {r['elapsed']:.1f} s, codes {r['codes']}, "
                      f"hub served {r['hub_by_handler']}", flush=True)
        finally:
            stack.stop()
        left = [p for p in (pids.get("service"), pids.get("proxy")) if p and Path(f"/proc/{p}").exists()]
        print(f"stopped; processes left behind: {left or 'none'}")

    print(f"{'phase':>15} {'req/s':>6} {'p50 ms':>7} {'p99 ms':>7} {'hub req/poll':>12} "
          f"{'hub cpu s':>9} {'svc cpu s':>9} {'proxy cpu s':>11} {'client cpu s':>12}")
    for r in results:
        wall = r["elapsed"]
        print(f"{r['name']:>15} {r['requests'] / wall:>6.0f} {r['p50'] * 1000:>7.1f} {r['p99'] * 1000:>7.1f} "
              f"{r['hub_requests'] / r['requests']:>12.3f} "
              f"{r['cpu']['hub']:>5.1f} {100 * r['cpu']['hub'] / wall:>2.0f}% "
              f"{r['cpu']['service']:>5.1f} {100 * r['cpu']['service'] / wall:>2.0f}% "
              f"{r['cpu']['proxy']:>7.1f} {100 * r['cpu']['proxy'] / wall:>2.0f}% "
              f"{r['cpu']['client']:>8.1f} {100 * r['cpu']['client'] / wall:>2.0f}%")
    hub_direct = results[-1]
    for r in results[:-1]:
        ratio = r["cpu"]["hub"] / hub_direct["cpu"]["hub"] if hub_direct["cpu"]["hub"] else float("nan")
        print(f"  {r['name']} vs hub/proxy: hub CPU x{ratio:.2f}, hub requests "
              f"{r['hub_requests']:.0f} vs {hub_direct['hub_requests']:.0f} "
              f"(of which 'who is this token' {r['hub_whoami']:.0f} vs {hub_direct['hub_whoami']:.0f}), "
              f"p50 x{r['p50'] / hub_direct['p50']:.2f}")


if __name__ == "__main__":
    main()
