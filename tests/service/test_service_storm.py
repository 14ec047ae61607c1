"""Request storms from many concurrent people, on SQLite and on the real PostgreSQL.

Twenty-four students ask for a quarter of a device at once, again and again,
through the hub's proxy: wait in line, hold it a moment, give it back, or give
up waiting. (The same storms with the service killed in the middle are in
tests/reliability/test_kill_service.py.) Afterwards the database's history must
show that nothing was lost (every request a client heard of is
there), nothing was granted twice (no device over-full at any instant, no
student over her limit), and every second of use was charged exactly once.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

import pytest
from support.service_stack import Patient

from npuhub.admission.store import AdmissionStore

pytestmark = pytest.mark.integration

STUDENTS = [f"student{i}" for i in range(1, 25)]
ROUNDS = 3


def student_life(svc, name: str, seed: int, heard: dict, lock: threading.Lock, deadline: float) -> int:
    rng = random.Random(seed)
    call = Patient(svc.client(name), deadline)
    # The hub's spawner releases a grant once it has stopped the server (operate, ?stopped=true); these
    # sessions have no server, so the operator plays that part. Her own DELETE cancels a waiting request.
    spawner = Patient(svc.client("admin"), deadline)
    for _ in range(ROUNDS):
        rid = str(uuid.uuid4())
        r = call("POST", "/requests", json={"flavor": "npu-quarter", "id": rid})
        assert r.status_code in (200, 201, 202), r.text
        with lock:
            heard[rid] = name
        state = r.json()["state"]
        give_up_at = time.monotonic() + rng.uniform(1.0, 6.0)
        while state == "waiting" and time.monotonic() < give_up_at:
            time.sleep(0.15)
            r = call("GET", f"/requests/{rid}")
            assert r.status_code == 200, r.text
            state = r.json()["state"]
            assert state in ("waiting", "granted"), r.text
        if state == "granted":
            time.sleep(rng.uniform(0.1, 0.5))
            r = spawner("DELETE", f"/requests/{rid}?stopped=true")
        else:
            # granted meanwhile? then the service finds no server at the hub and ends it uncharged
            r = call("DELETE", f"/requests/{rid}")
        assert r.status_code == 200 and r.json()["state"] in ("released", "cancelled"), r.text
    return call.outages + spawner.outages


def storm(svc) -> tuple[dict, int]:
    heard: dict[str, str] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + 60
    with ThreadPoolExecutor(len(STUDENTS)) as pool:
        futures = [pool.submit(student_life, svc, name, i, heard, lock, deadline) for i, name in enumerate(STUDENTS)]
        outages = sum(f.result() for f in futures)
    return heard, outages


def check_history(db_url: str, heard: dict) -> None:
    store = AdmissionStore(db_url)
    try:
        history = {r.id: r for r in store.requests(limit=100000)}
        ledger = store.ledger(limit=1000000)
    finally:
        store.close()

    # nothing lost: every request a client heard an answer for is there, as hers, and ended
    missing = set(heard) - set(history)
    assert not missing, f"{len(missing)} requests the clients were told about are gone"
    for rid, name in heard.items():
        assert history[rid].user == name
        assert history[rid].state.value in ("released", "cancelled"), history[rid]

    # nothing granted twice: at no instant is a device over-full or a student over her quarter
    events = []
    for req in history.values():
        if req.granted_at is None:
            continue
        assert req.ended_at is not None and req.ended_at >= req.granted_at
        for s in req.grant.slices:
            events.append((req.granted_at, 1, (s.node, s.device), s.fraction, req.user))
            events.append((req.ended_at, 0, (s.node, s.device), -s.fraction, req.user))
    events.sort(key=lambda e: (e[0], e[1]))  # at the same instant, releases first
    used: dict = {}
    held: dict = {}
    for _, _, device, fraction, user in events:
        used[device] = used.get(device, Fraction(0)) + fraction
        held[user] = held.get(user, Fraction(0)) + fraction
        assert used[device] <= 1, f"device {device} over-full"
        assert held[user] <= Fraction(1, 4), f"{user} held more than her limit"
    granted = [r for r in history.values() if r.granted_at is not None]
    assert len(granted) >= len(STUDENTS), "the storm granted too little to prove anything"

    # charged once: each session's charge is its share times its length (to the millisecond),
    # and the ledger holds exactly that, once, for her account
    # (a grant its owner ended while no server ran for it is refunded: charged nothing, net)
    charges: dict = {}
    for entry in ledger:
        if entry["kind"] in ("charge", "refund") and entry["account"].startswith("user:"):
            charges[entry["request"]] = charges.get(entry["request"], Fraction(0)) - Fraction(entry["amount"])
    for req in granted:
        held_for = Fraction(req.ended_at - req.granted_at)
        if req.reason == "server_gone":
            assert req.charged == 0, (req.id, req.charged)
        else:
            assert abs(req.charged - req.share * held_for) <= req.share * Fraction(2, 1000), (req.id, req.charged)
        assert charges.get(req.id, Fraction(0)) == req.charged, req.id


def test_storm_grants_fairly_and_charges_once(db_url, start_service):
    svc = start_service(db_url)
    started = time.monotonic()
    heard, outages = storm(svc)
    assert outages == 0
    assert len(heard) == len(STUDENTS) * ROUNDS
    pool = svc.client("admin").get("/pool").json()
    assert pool["models"][0]["held"] == "0"
    svc.stop()
    assert "Traceback" not in svc.log(tail=10**8)
    check_history(db_url, heard)
    assert time.monotonic() - started < 40

