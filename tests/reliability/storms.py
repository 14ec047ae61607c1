"""Storms of requests and cancels through the hub's proxy, a fault thrown in the middle, and the invariants after.

The fault modules share this driver: students (threads) ask for a slice,
wait for it or give up, hold it a moment and give it back, again and again,
retrying with the same request id through every outage; the test's fault
runs meanwhile in the main thread. Afterwards ``check`` reads the database,
the API and the hub and returns every violation of ``invariants``, and
``report`` prints the numbers (and records them as properties of the test).

Imports of today's shared test helpers are kept in this one place.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor


from support.service_stack import Client, Patient
from invariants import (  # noqa: E402
    Heard, Tally, api_disagrees, charges, hub_active, ledger_chain, lost, over_capacity, read_history, unserved,
)

from npuhub.site_config import load_site_config  # noqa: E402

STUDENTS = [f"student{i}" for i in range(1, 25)]
ENDED = ("released", "cancelled", "refused")


def student_life(svc_client: Callable[[str], Client], name: str, seed: int, heard: Heard, rounds: int,
                 deadline: float) -> int:
    """Ask, wait or give up, hold, give back, ``rounds`` times. Returns how many outages she met."""
    rng = random.Random(seed)
    call = Patient(svc_client(name), deadline)
    for _ in range(rounds):
        rid = str(uuid.uuid4())
        r = call("POST", "/requests", json={"flavor": "npu-quarter", "id": rid})
        assert r.status_code in (200, 201, 202), r.text
        state = r.json()["state"]
        heard.tell(rid, name, state)
        give_up_at = time.monotonic() + rng.uniform(0.5, 4.0)
        while state == "waiting" and time.monotonic() < give_up_at:
            time.sleep(0.15)
            r = call("GET", f"/requests/{rid}")
            assert r.status_code == 200, r.text
            state = r.json()["state"]
            heard.tell(rid, name, state)
        if state == "granted":
            time.sleep(rng.uniform(0.1, 0.8))
        r = call("DELETE", f"/requests/{rid}")
        assert r.status_code == 200 and r.json()["state"] in ENDED, r.text
        heard.tell(rid, name, r.json()["state"])
    return call.outages


def storm(svc_client: Callable[[str], Client], seed: int, fault: Callable[[random.Random], int] | None = None,
          rounds: int = 3, students: list[str] = STUDENTS, timeout: float = 120) -> tuple[Heard, int, int]:
    """One storm with ``fault(rng)`` run in the middle; returns what was heard, the outages, the faults thrown.

    ``svc_client(name)`` gives a person's client of the current service
    (looked up at each call, so a restarted service is reached too).
    """
    heard = Heard()
    deadline = time.monotonic() + timeout
    rng = random.Random(seed)
    faults = 0
    with ThreadPoolExecutor(len(students)) as pool:
        futures = [pool.submit(student_life, svc_client, name, rng.randrange(2**32), heard, rounds, deadline)
                   for name in students]
        if fault is not None:
            faults = fault(rng)
        outages = sum(f.result() for f in futures)
    return heard, outages, faults


def api_states(admin: Client, heard: Heard) -> dict[str, str]:
    """Each heard request's state as the API tells it (to an operator)."""
    states = {}
    for rid in heard.owner:
        r = admin.get(f"/requests/{rid}")
        states[rid] = r.json()["state"] if r.status_code == 200 else f"HTTP {r.status_code}"
    return states


def check(db_url: str, hub, heard: Heard, admin: Client | None, served: Callable, accrual_interval: float,
          now: float | None = None, died: Iterable[float] = ()) -> dict[str, list[str]]:
    """Every invariant after a storm: from the database, the API (``admin``) and the hub's list of servers."""
    site = load_site_config(hub.config)
    history = read_history(db_url)
    found = {
        "lost": lost(history, heard),
        "over_capacity": over_capacity(history, site),
        "charges": charges(history, site, served, now if now is not None else time.time(), accrual_interval,
                           died=died),
        "ledger_chain": ledger_chain(history),
        "unserved": unserved(history, hub_active(hub.admin)),
    }
    if admin is not None:
        found["api_disagrees"] = api_disagrees(history, api_states(admin, heard))
    return found


def report(request, what: str, seed: int, tally: Tally, found: dict[str, list[str]]) -> str:
    """Print the run's numbers (also as the test's properties, for the JUnit XML) and list every violation."""
    tally.violations += sum(len(v) for v in found.values())
    line = tally.line(what, seed)
    for key in ("storms", "kills", "checked", "violations"):
        request.node.user_properties.append((key, getattr(tally, key)))
    terminal = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if terminal is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # the numbers belong in the run's output, pass or fail
            terminal.ensure_newline()
            terminal.write_line(line)
    details = [f"{name}: {v}" for name, violations in found.items() for v in violations]
    return line + ("\n" + "\n".join(details[:40]) if details else "")


def seed_for() -> int:
    """A fresh random seed per run, printed with the numbers; NPUHUB_RELIABILITY_SEED replays one."""
    seed = os.environ.get("NPUHUB_RELIABILITY_SEED")
    return int(seed) if seed else random.SystemRandom().randrange(2**31)

