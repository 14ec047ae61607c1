"""A workshop burst: N participants sign in and ask for a server within 60 s, npuhub's hub against a plain JupyterHub.

Two hubs on loopback, each with the Node proxy, in the same run:
- npuhub:  the embedded stack's hub configuration (demo sign-in with its group
  mapping and roles, the hub-managed npuhub service, workshops), its spawner
  admitting every start through the service (``InstantNPUSpawner``: submit,
  follow, grant of a ¼ NPU slice; a stop releases it);
- plain:   JupyterHub with its DummyAuthenticator and the same spawner without
  npuhub (``InstantSpawner``), its database as JupyterHub makes it;
- plain+wal: the same, its SQLite database in WAL mode as npuhub's hub has it
  (``npuhub.sqlite_wal``): what remains between it and npuhub is npuhub's own
  cost (sign-in's groups and roles, the admission round trips, the service).
Neither starts a JupyterLab (``benchmarks/instant_spawner.py``): what is
measured is the hub's and the service's cost. For each N (100, 300, 1,000)
the participants arrive evenly over 60 s; each, like a browser: opens the
login page, signs in (form + cookie), asks for her server
(``POST /hub/api/users/<name>/server``, as the home page's button does) and,
unless it is ready at once (201), follows the progress stream until it is.
A 429 (JupyterHub's ``concurrent_spawn_limit``) is retried after its
Retry-After, as the hub's pages do, and counted. Time to ready runs from her
arrival. Between runs every server is stopped (slices released). A last run
sends N_sat participants at once: the rate servers become ready is the hub's
saturation rate. CPU seconds of the hub, the service, the proxy and this
load generator come from /proc/<pid>/stat.

Run: .venv/bin/python benchmarks/workshop_burst.py [--sizes 100 300 1000] [--window 60] [--saturation 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp
import requests
from yarl import URL

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hubstack import PASSWORD, Hub  # noqa: E402
from status_reads import children, cpu_seconds  # noqa: E402

#: 32 nodes of 8 devices: 1,024 quarter slices, room for the largest run; everyone's default is ¼ NPU.
SITE = {
    "pool": [{"model": "Ascend 910B", "nodes": 32, "devices_per_node": 8, "node_prefix": "node"}],
    "groups": {"course-demo": {"kind": "course"}, "lab-demo": {"kind": "lab"}, "teachers": {"kind": "role"},
               "admins": {"kind": "role"}},
    "flavors": [{"id": "cpu", "cpu": 1, "memory": "1G"},
                {"id": "npu-quarter", "cpu": 1, "memory": "2G", "default": True,
                 "accelerator": {"model": "Ascend 910B", "share": "1/4"}}],
    "limits": {"max_share": 1},
}

PLAIN_HEADER = "from npuhub.embedded.hub import proxy_command\n"
WAL_LINES = "from npuhub.sqlite_wal import wal_for_every_sqlite_database\nwal_for_every_sqlite_database()\n"


def plain_config(data: Path) -> str:
    return (f"c.JupyterHub.db_url = 'sqlite:///{data / 'jupyterhub.sqlite'}'\n"
            f"c.JupyterHub.cookie_secret_file = '{data / 'jupyterhub_cookie_secret'}'\n"
            f"c.JupyterHub.pid_file = '{data / 'jupyterhub.pid'}'\n"
            f"c.ConfigurableHTTPProxy.pid_file = '{data / 'proxy.pid'}'\n"
            "c.ConfigurableHTTPProxy.command = [proxy_command()]\n"
            "c.JupyterHub.authenticator_class = 'dummy'\n"
            f"c.DummyAuthenticator.password = '{PASSWORD}'\n"
            "c.Authenticator.allow_all = True\n"
            "c.Authenticator.admin_users = {'admin'}\n"
            "c.JupyterHub.default_url = '/hub/home'\n"
            "c.JupyterHub.spawner_class = 'instant_spawner.InstantSpawner'\n")


def npuhub_config(students: int) -> str:
    return (f"c.DemoAuthenticator.students = {students}\n"
            "c.JupyterHub.spawner_class = 'instant_spawner.InstantNPUSpawner'\n")


class Stack:
    """One hub under test and the processes whose CPU is counted."""

    def __init__(self, name: str, hub: Hub):
        self.name, self.hub = name, hub
        self.admin_token = hub.token("admin")

    def pids(self) -> dict[str, int]:
        pids = {"hub": self.hub.proc.pid}
        for pid, cmd in children(self.hub.proc.pid).items():
            if "npuhub.service" in cmd:
                pids["service"] = pid
            elif "configurable-http-proxy" in cmd or "node" in cmd.split(" ")[0]:
                pids["proxy"] = pid
        pids["load"] = os.getpid()
        return pids

    def stop_all_servers(self, timeout: float = 600) -> None:
        headers = {"Authorization": f"token {self.admin_token}"}
        base = self.hub.base_url + "/hub/api"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            users = requests.get(base + "/users", params={"state": "active", "limit": 5000}, headers=headers,
                                 timeout=120).json()
            if isinstance(users, dict):
                users = users.get("items", [])
            if not users:
                return
            for user in users:
                requests.delete(f"{base}/users/{user['name']}/server", headers=headers, timeout=120)
            time.sleep(1)
        raise RuntimeError(f"{self.name}: servers still running after {timeout:.0f} s")


async def participant(base: str, name: str, due: float, deadline: float, out: list) -> None:
    """One person: wait for her arrival, sign in, ask for her server, wait until it is ready."""
    await asyncio.sleep(max(0.0, due - time.perf_counter()))
    retries = 0
    kind = "ready"
    jar = aiohttp.CookieJar(unsafe=True)  # cookies of 127.0.0.1
    timeout = aiohttp.ClientTimeout(total=max(1.0, deadline - time.perf_counter()))
    try:
        async with aiohttp.ClientSession(cookie_jar=jar, timeout=timeout) as http:
            async with http.get(base + "/hub/login") as r:
                await r.read()
                if r.status != 200:
                    raise Failed(f"login page {r.status}")
            xsrf = jar.filter_cookies(URL(base + "/hub/")).get("_xsrf")
            xsrf = xsrf.value if xsrf else ""
            async with http.post(base + "/hub/login", allow_redirects=False,
                                 data={"username": name, "password": PASSWORD, "_xsrf": xsrf}) as r:
                await r.read()
                if r.status != 302:
                    raise Failed(f"sign-in {r.status}")
            xsrf = jar.filter_cookies(URL(base + "/hub/")).get("_xsrf")
            headers = {"X-XSRFToken": xsrf.value if xsrf else ""}
            while True:
                async with http.post(f"{base}/hub/api/users/{name}/server", json={}, headers=headers) as r:
                    body = await r.read()
                    status = r.status
                    retry_after = float(r.headers.get("Retry-After") or 1)
                if status == 201:
                    break
                if status == 202:
                    await follow(http, base, name, headers)
                    break
                if status == 429:
                    retries += 1
                    await asyncio.sleep(min(retry_after, 30))
                    continue
                raise Failed(f"start {status}: {body[:80].decode(errors='replace')}")
    except Failed as e:
        kind = str(e)
    except (aiohttp.ClientError, asyncio.TimeoutError) as e:
        kind = f"client {type(e).__name__}"
    out.append({"name": name, "kind": kind, "seconds": time.perf_counter() - due, "retries": retries,
                "done": time.perf_counter()})


class Failed(Exception):
    pass


async def follow(http: aiohttp.ClientSession, base: str, name: str, headers: dict) -> None:
    """The pending page's progress stream, until the server is ready (or the start failed)."""
    async with http.get(f"{base}/hub/api/users/{name}/server/progress", headers=headers) as r:
        if r.status != 200:
            raise Failed(f"progress {r.status}")
        async for line in r.content:
            if not line.startswith(b"data:"):
                continue
            event = json.loads(line[5:])
            if event.get("ready"):
                return
            if event.get("failed"):
                raise Failed(f"start failed: {event.get('message', '')[:80]}")
    raise Failed("progress ended before ready")


async def burst(base: str, names: list[str], window: float, limit: float) -> tuple[list, float]:
    start = time.perf_counter()
    n = len(names)
    out: list = []
    await asyncio.gather(*(participant(base, name, start + (i * window / n if window else 0.0),
                                       start + (i * window / n if window else 0.0) + limit, out)
                           for i, name in enumerate(names)))
    return out, start


def run(stack: Stack, names: list[str], window: float, limit: float) -> dict:
    pids = stack.pids()
    before = {k: cpu_seconds(p) for k, p in pids.items()}
    out, start = asyncio.run(burst(stack.hub.base_url, names, window, limit))
    after = {k: cpu_seconds(p) for k, p in pids.items()}
    ready = sorted(o["seconds"] for o in out if o["kind"] == "ready")
    kinds = Counter(o["kind"] for o in out if o["kind"] != "ready")
    last = max((o["done"] for o in out if o["kind"] == "ready"), default=start)
    result = {
        "hub": stack.name, "n": len(names), "window": window, "ready": len(ready),
        "p50": statistics.median(ready) if ready else None,
        "p95": ready[int(0.95 * (len(ready) - 1))] if ready else None,
        "max": ready[-1] if ready else None,
        "failures": dict(kinds), "retried_429": sum(o["retries"] for o in out),
        "rate": len(ready) / (last - start) if last > start else 0.0,
        "cpu": {k: round(after[k] - before[k], 1) for k in pids},
    }
    stack.stop_all_servers()
    return result


def line(r: dict) -> str:
    cpu = " ".join(f"{k}={v:.1f}" for k, v in r["cpu"].items())
    fails = ", ".join(f"{k}: {v}" for k, v in r["failures"].items()) or "none"
    return (f"{r['hub']:>9} N={r['n']:>5} in {r['window']:>3.0f}s  ready {r['ready']:>5}  "
            f"p50 {r['p50'] or 0:6.2f}s p95 {r['p95'] or 0:6.2f}s max {r['max'] or 0:6.2f}s  "
            f"{r['rate']:6.1f} ready/s  429 retried {r['retried_429']:>4}  failures: {fails}  CPU s: {cpu}")


def ratio(a, b) -> str:
    return f"x{a / b:.2f}" if a and b else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--window", type=float, default=60.0, help="seconds over which each run's people arrive")
    parser.add_argument("--saturation", type=int, default=300, help="people arriving at once in the last run")
    parser.add_argument("--limit", type=float, default=300.0, help="seconds a person waits before giving up")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # thousands of connections, here and in the hubs
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).resolve().parent), *filter(None, [os.environ.get("PYTHONPATH")])])
    total = sum(args.sizes) + args.saturation
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, CPython {platform.python_version()}, "
          f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="npuhub-burst-") as tmp:
        tmp = Path(tmp)
        for name in ("plain", "plain-wal"):
            (tmp / name / "data").mkdir(parents=True)
        (tmp / "npuhub").mkdir()
        hubs = {"plain": Hub(tmp / "plain", SITE, plain_config(tmp / "plain" / "data"), header=PLAIN_HEADER),
                "plain+wal": Hub(tmp / "plain-wal", SITE, plain_config(tmp / "plain-wal" / "data"),
                                 header=PLAIN_HEADER + WAL_LINES),
                "npuhub": Hub(tmp / "npuhub", SITE, npuhub_config(total))}
        results = []
        try:
            stacks = {name: Stack(name, hub.start()) for name, hub in hubs.items()}
            first = 1
            plan = [(n, args.window) for n in args.sizes] + [(args.saturation, 0.0)]
            for n, window in plan:
                names = [f"student{i}" for i in range(first, first + n)]
                first += n
                runs = {}
                for name in stacks:  # the same people on each hub, one hub after the other
                    runs[name] = run(stacks[name], names, window, args.limit)
                    results.append(runs[name])
                    print(line(runs[name]), flush=True)
                npu = runs["npuhub"]
                for base in ("plain", "plain+wal"):
                    plain = runs[base]
                    print(f"{'':>9} npuhub/{base}: p50 {ratio(npu['p50'], plain['p50'])}, "
                          f"p95 {ratio(npu['p95'], plain['p95'])}, rate {ratio(npu['rate'], plain['rate'])}, "
                          f"hub+service CPU {ratio(npu['cpu']['hub'] + npu['cpu'].get('service', 0), plain['cpu']['hub'])}",
                          flush=True)
        finally:
            for hub in hubs.values():
                hub.stop()
        print(json.dumps(results))


if __name__ == "__main__":
    main()
