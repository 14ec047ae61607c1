"""SIGKILL of the hub with servers running and starts queued, on SQLite and PostgreSQL: no slice without a server.

The whole embedded stack (hub, proxy, service, real JupyterLab servers) on
a one-device pool (four quarter slices). Six students start servers over
the hub's API, wait for them or give up, use them a moment and stop them,
twice over, while the hub is killed with SIGKILL (servers and the proxy
survive) at a seeded random moment when servers run and starts wait in the
queue, and started again. The restarted hub has forgotten the queued
starts: the service must end those requests (a grant within one
reconciliation round, uncharged; a waiting one after the grace), while the
servers that survived keep their slices and are charged for every second,
once. Sampled during the storm and checked at the end: every granted slice
has a server the hub runs or starts (after one round), and every invariant.

The students go on (at least two rounds each) until the last kill is over,
and each kill comes while a server runs and a start is queued, however slow
the machine (a loaded one starts servers in more than the students' patience
for the queue: they wait for a start under way, and give up on a queued one
only). They are held back while the hub is killed and until it is back
with its service, and no kill comes in the middle of a server's stop: a
hub killed then is restarted with a spawner that tries to release the
slice before the hub has started the service again, gives up, and the
slice is released late or refunded (a known defect, reported, not this
test's subject).
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from npuhub.admission import tables
from support.hubclient import HubAPI
from support.sites import make_site
from support.stacks import EmbeddedStack, process_env
from invariants import Heard, Tally, hub_active, read_history, unserved
from storms import check, report, seed_for

pytestmark = pytest.mark.integration

STUDENTS = [f"student{i}" for i in range(1, 7)]
SPAWNER = "npuhub-spawner"  # the hub's spawners' service: who ends requests with ?stopped=true
ROUNDS = 2
KILLS = 2
RECONCILE = 2.0
METER = 1.0
GRACE = 6.0
SERVICE_ARGS = (f"--NPUHubService.reconcile_interval={RECONCILE} --NPUHubService.meter_interval={METER} "
                f"--NPUHubService.reconcile_grace={GRACE}")
#: a student's budget, so that charges and refunds reach the ledger
SITE = make_site(quotas=[{"scope": "user", "groups": ["course-demo"], "device_hours": 10, "period": "week"}])


class Student:
    """One person's servers through the hub's REST API (an admin's token, as a z2jh script would), patiently."""

    def __init__(self, stack: EmbeddedStack, token: str, name: str, deadline: float, hub_up: threading.Event,
                 kills_over: threading.Event, db: sa.Engine):
        self.api = HubAPI(stack.base_url, token)
        self.name = name
        self.deadline = deadline
        self.hub_up = hub_up
        self.kills_over = kills_over
        self.db = db

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        while True:
            self.hub_up.wait(60)  # held back while the test kills and restarts the hub, and looks at it
            try:
                r = self.api(method, path, **kwargs)
                # while the hub is down the proxy answers with an error page, not the hub's JSON
                if r.status_code < 500 and (not r.content or r.headers.get("Content-Type", "").startswith(
                        "application/json")):
                    return r
            except requests.RequestException:
                pass  # the hub is down: ask again
            if time.monotonic() > self.deadline:
                raise TimeoutError(f"{self.name}: {method} {path} never answered")
            time.sleep(0.3)

    def server(self) -> dict | None:
        return (self.call("GET", f"/users/{self.name}").json().get("servers") or {}).get("")

    def queued(self) -> bool:
        """Is her last start waiting in the admission queue (not granted, its server not under way)?"""
        with self.db.connect() as c:
            state = c.execute(sa.select(tables.requests.c.state).where(tables.requests.c.user == self.name)
                              .order_by(tables.requests.c.arrived.desc()).limit(1)).scalar()
        return state == "waiting"

    def life(self, seed: int) -> None:
        rng = random.Random(seed)
        rounds = 0
        while rounds < ROUNDS or not self.kills_over.is_set():
            rounds += 1
            self.call("POST", f"/users/{self.name}/server", json={"profile": "npu-quarter"})
            give_up_at = time.monotonic() + rng.uniform(3.0, 9.0)
            server = self.server()
            # she gives up on a start still queued after a few seconds, and waits for one under way
            while server and server.get("pending") == "spawn" and (time.monotonic() < give_up_at or not self.queued()):
                if time.monotonic() > self.deadline:
                    raise TimeoutError(f"{self.name}'s server never started: {server}")
                time.sleep(0.3)
                server = self.server()
            if server and server.get("ready"):
                time.sleep(rng.uniform(1.0, 3.0))
            # stop the server, or withdraw the start still waiting in the queue
            self.call("DELETE", f"/users/{self.name}/server")
            while (server := self.server()) and (server.get("ready") or server.get("pending")):
                time.sleep(0.3)
            time.sleep(rng.uniform(0.2, 1.0))


class Kills:
    """When the hub was killed, and which servers the restarted hub still had: the starts it forgot."""

    def __init__(self):
        self.kept: list[tuple[float, set[tuple[str, str]]]] = []

    def forgot(self, req) -> bool:
        """Was the request's start forgotten by a restarted hub (active at a kill, its server gone after)?"""
        return any(req.arrived <= killed_at and (req.ended_at is None or req.ended_at > killed_at)
                   and (req.user, req.server) not in kept for killed_at, kept in self.kept)


def sample_unserved(db_url: str, stack: EmbeddedStack, token: str) -> list[str]:
    """One look, during the storm: grants older than a round whose server the hub neither runs nor starts."""
    listed_at = time.time()
    try:
        active = hub_active(HubAPI(stack.base_url, token))
    except requests.RequestException:
        return []  # the hub is away: nothing to compare with
    return unserved(read_history(db_url), active, granted_before=listed_at - RECONCILE - 1.0)


def kill_orphans(stack: EmbeddedStack) -> None:
    """Servers whose start the killed hub forgot keep running: end them (they are this test's processes)."""
    mark = f":{stack.hub_port}/"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if mark in process_env(int(entry.name)).get("JUPYTERHUB_API_URL", ""):
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue


@pytest.fixture(params=["sqlite", "postgresql"])
def stack_db(request, tmp_path, monkeypatch):
    monkeypatch.setenv("NPUHUB_SERVICE_ARGS", SERVICE_ARGS)
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
        monkeypatch.setenv("NPUHUB_DB_URL", url)
        stack = EmbeddedStack(tmp_path, SITE)
    else:
        monkeypatch.delenv("NPUHUB_DB_URL", raising=False)
        stack = EmbeddedStack(tmp_path, SITE)  # its data directory is under /tmp when run as root
        url = f"sqlite:///{stack.data_dir / 'admission.sqlite'}"
    stack.start()
    try:
        yield stack, url
    finally:
        stack.stop()
        kill_orphans(stack)


def test_kill_9_of_the_hub_leaves_no_slice_without_a_server(stack_db, request):
    stack, db_url = stack_db
    seed = seed_for()
    rng = random.Random(seed)
    token = stack.admin.http.headers["Authorization"].split()[1]
    for name in STUDENTS:
        stack.session(name)  # signed in once: the hub knows her groups
    deadline = time.monotonic() + 300  # a hung storm fails: the students live until both kills (up to 2 x 120 s)
    hub_up = threading.Event()
    hub_up.set()
    kills_over = threading.Event()
    db = sa.create_engine(db_url)
    students = {name: Student(stack, token, name, deadline, hub_up, kills_over, db) for name in STUDENTS}
    sampled: list[str] = []
    kills = Kills()

    def servers() -> list[dict]:
        users = HubAPI(stack.base_url, token)("GET", "/users", params={"state": "active"}).json()
        return [s for u in users for s in (u.get("servers") or {}).values()]

    def running_and_queued() -> bool:
        found = servers()
        return any(s.get("ready") for s in found) and any(s.get("pending") == "spawn" for s in found)

    def settled() -> None:
        """The hub has checked its servers and started the service again (it does so after the checks)."""
        until = time.monotonic() + 60
        while time.monotonic() < until:
            try:
                if requests.get(f"{stack.base_url}/services/npuhub/api/v1/openapi.json", timeout=5).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise TimeoutError("the restarted hub did not bring the service back")

    def hold_when_running_and_queued() -> None:
        """Hold the students back at a moment when servers run and starts wait, with no stop half-done."""
        give_up_at = time.monotonic() + 120
        while True:
            while not running_and_queued():
                assert time.monotonic() < give_up_at, "the storm never had a server running and a start queued"
                time.sleep(0.2)
            time.sleep(rng.uniform(0.0, 1.0))
            # Starts wait in the queue or are under way, servers run; no stop is half-done (a hub killed in
            # the middle of a stop is not this test's fault: see the module's docstring).
            hub_up.clear()
            stopping_until = time.monotonic() + 15
            while any(s.get("pending") == "stop" for s in servers()) and time.monotonic() < stopping_until:
                time.sleep(0.2)
            if running_and_queued():
                return
            hub_up.set()  # the moment passed while the students finished their calls: the next one

    with ThreadPoolExecutor(len(students)) as pool:
        futures = [pool.submit(s.life, rng.randrange(2**32)) for s in students.values()]
        try:
            for _ in range(KILLS):
                hold_when_running_and_queued()
                killed_at = time.time()
                stack.crash()
                stack.start()
                settled()
                kills.kept.append((killed_at, hub_active(HubAPI(stack.base_url, token))))
                hub_up.set()
                for _ in range(2):  # within a round of the restart, and after
                    time.sleep(RECONCILE + 1.0)
                    sampled += sample_unserved(db_url, stack, token)
        finally:
            kills_over.set()
            hub_up.set()
        for f in futures:
            f.result()
    db.dispose()

    # every start withdrawn or stopped: within the grace and a round, nothing is held
    settle_until = time.monotonic() + GRACE + 3 * RECONCILE + 5
    while time.monotonic() < settle_until:
        history = read_history(db_url)
        if all(r.state.final for r in history.requests.values()):
            break
        time.sleep(0.5)

    heard = Heard()
    for req in read_history(db_url).requests.values():
        heard.tell(req.id, req.user, req.state.value)  # the hub's spawner heard of each one

    def served(req) -> bool:
        # A grant is charged for as long as it held, unless the hub forgot its start: then it costs nothing,
        # except when the spawner's next start of that server ended it as a leftover first (see below).
        return not kills.forgot(req) or req.ended_by == SPAWNER

    found = check(db_url, stack, heard, None, served, accrual_interval=METER)
    # Known (reported, not fixed here: the spawner's part): a forgotten start granted after the restart and
    # ended by the spawner's clean-up of leftovers is released, so charged, not abandoned; at most for the
    # round it takes the service to notice, since reconciliation abandons it otherwise.
    found["leftovers_charged_long"] = [
        f"forgotten request {r.id} of {r.user} held {r.ended_at - r.granted_at:.1f}s before its release"
        for r in read_history(db_url).requests.values()
        if kills.forgot(r) and r.ended_by == SPAWNER and r.granted_at is not None
        and r.ended_at - r.granted_at > RECONCILE + 1.0]
    found["unserved_during_storm"] = sampled
    history = read_history(db_url)
    found["still_held"] = [f"request {r.id} of {r.user} is {r.state.value} after the storm"
                           for r in history.requests.values() if not r.state.final]
    tally = Tally(storms=1, kills=len(kills.kept), checked=len(history.requests))
    summary = report(request, f"kill -9 of the hub ({db_url.split(':')[0]})", seed, tally, found)
    assert tally.violations == 0, summary
    ran = [r for r in history.requests.values() if r.granted_at is not None and served(r)]
    assert ran and any(r.charged for r in ran), "no server ran: the charges were not put to the test"
    forgotten = [r for r in history.requests.values() if kills.forgot(r)]
    assert forgotten, "the kills came when no start was queued: the hub forgot nothing"
