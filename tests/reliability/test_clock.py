"""The service's clock moved under a storm: across a budget day forward, then back, then forward again.

The service runs with the test hook ``clock_offset_file`` (its clock is the
system's plus the seconds in a file), starting ten seconds before a UTC
midnight. Twelve students storm it (their grants have no server: each ends
uncharged, whatever metering charged is refunded) while four others hold a
slice the whole time, as if their servers ran: the test plays the hub's
spawner and releases them with ``?stopped=true``. Meanwhile the clock jumps
an hour forward (a new budget day: every account renews, once), half an hour
back (nothing is charged while the clock is behind where metering left
off, nothing negative ever), then forty minutes forward again. Each held
session must then be charged exactly once for the time the clock says it
held its slice, and every other invariant must hold. Reconciliation with the
hub is turned off (the held slices have no server the hub knows).
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from invariants import read_history
from storms import STUDENTS, Tally, check, report, seed_for, storm
from support.service_stack import ServiceProcess

pytestmark = pytest.mark.integration

HOLDERS = STUDENTS[12:16]
STORMERS = STUDENTS[:12]
DAY = 86400
METER = 0.5


class MovableClock:
    """The offset file the service reads, and the service's time as the test sees it."""

    def __init__(self, path: Path, offset: float):
        self.path = path
        self.set(offset)

    def set(self, offset: float) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(repr(offset))
        tmp.replace(self.path)  # a new file: the service sees the change at its next reading
        self.offset = offset

    def jump(self, seconds: float) -> None:
        self.set(self.offset + seconds)

    def now(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def clock_service(service_hub, db_url, tmp_path):
    midnight = (time.time() // DAY + 1) * DAY
    clock = MovableClock(tmp_path / "clock-offset", midnight - 10 - time.time())
    svc = ServiceProcess(service_hub, db_url, tmp_path / "service", meter_interval=METER)
    with open(svc.config, "a") as config:
        config.write(f"c.NPUHubService.clock_offset_file = {str(clock.path)!r}\n"
                     "c.NPUHubService.reconcile_interval = 3600\n")
    svc.start()
    yield svc, clock, midnight
    svc.stop()


def test_clock_jumps_renew_budgets_once_and_charge_each_second_once(clock_service, db_url, request):
    svc, clock, midnight = clock_service
    seed = seed_for()
    admin = svc.client("admin")
    held = {}
    for name in HOLDERS:
        r = svc.client(name).post("/requests", {"flavor": "npu-quarter"})
        assert r.status_code == 201, r.text
        held[name] = r.json()["id"]
    before_midnight = clock.now()
    assert before_midnight < midnight

    def stop_server(name: str) -> None:
        r = admin.delete(f"/requests/{held[name]}?stopped=true")  # the spawner, its server stopped
        assert r.status_code == 200 and r.json()["state"] == "released", r.text

    marks = {}

    def jumps(rng: random.Random) -> int:
        time.sleep(rng.uniform(1.5, 3.0))
        clock.jump(3600)  # across midnight: a new budget day
        time.sleep(rng.uniform(1.5, 3.0))
        stop_server(HOLDERS[0])
        clock.jump(-1800)
        time.sleep(2 * METER)  # a tick that began before the jump is committed by now
        then = read_history(db_url)
        marks["back"] = len(then.ledger)
        marks["granted"] = {r.id for r in then.requests.values() if r.state.value == "granted"}
        time.sleep(rng.uniform(1.5, 3.0))
        marks["forward"] = len(read_history(db_url).ledger)
        clock.jump(2400)
        time.sleep(rng.uniform(1.5, 3.0))
        for name in HOLDERS[1:]:
            stop_server(name)
        return 3

    heard, outages, moved = storm(svc.client, seed, jumps, students=STORMERS)
    for name, rid in held.items():
        heard.tell(rid, name, "released")

    found = check(db_url, svc.hub, heard, admin, served=lambda req: req.user in HOLDERS,
                  accrual_interval=METER, now=clock.now())
    history = read_history(db_url)
    ledger = sorted(history.ledger, key=lambda e: e["id"])
    # the new day renewed, once and at midnight, every account of the day before that was used after it
    # (an account is renewed when next used: one nobody touched after midnight renews later)
    opened = {e["account"] for e in ledger if e["kind"] == "grant" and e["at"] < midnight}
    used_after = {e["account"] for e in ledger if e["kind"] != "renewal" and e["at"] >= midnight}
    renewals = [e for e in ledger if e["kind"] == "renewal"]
    found["renewals"] = [f"{a} renewed {n} times" for a in sorted(opened & used_after)
                         if (n := sum(1 for e in renewals if e["account"] == a and e["at"] == midnight)) != 1]
    found["renewals"] += [f"renewal {e['id']} of {e['account']} at {e['at']}, not at midnight"
                          for e in renewals if e["at"] != midnight]
    # while the clock was behind where metering had left off, the sessions granted before were charged nothing
    found["charged_while_behind"] = [
        f"ledger entry {e['id']} charged {e['amount']} for {e['request']} while the clock was behind"
        for e in ledger[marks["back"]:marks["forward"]] if e["kind"] == "charge" and e["request"] in marks["granted"]]
    # the holders were charged for the hour forward; the half hour back was not charged twice
    first = history.requests[held[HOLDERS[0]]]
    assert first.ended_at - first.granted_at > 3600
    assert float(first.charged) == pytest.approx(0.25 * (first.ended_at - first.granted_at), abs=0.001)

    tally = Tally(storms=1, kills=moved, checked=len(heard))
    summary = report(request, f"clock moved ({db_url.split(':')[0]})", seed, tally, found)
    assert tally.violations == 0, summary
    assert set(HOLDERS) <= {a.split(":", 1)[1] for a in opened & used_after}, \
        "the holders' accounts did not live across midnight: the renewal was not put to the test"
    assert "Traceback" not in svc.log(tail=10**8)
