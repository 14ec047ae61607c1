"""SIGKILL of the service at random points of a request storm, on SQLite and PostgreSQL: nothing lost or doubled.

Twenty-four students storm the service through the hub's proxy (ask, wait or
give up, hold, give back) while the service is killed with SIGKILL several
times at seeded random moments and started again on the same database after
a random pause. The students retry through each outage with the same request
ids. Afterwards every invariant must hold. No server runs behind these
grants (the hub is asked to stop a server it does not have), so each is
ended uncharged: whatever metering charged for it is refunded, once. A grant
that outlived the service process that made it is the exception: the next
process cannot know that no server ran on it and meters it as served, so it is
charged at most its price for the time it was held, never more.
"""

from __future__ import annotations

import random
import time

import pytest
from invariants import read_history
from storms import Tally, check, report, seed_for, storm

pytestmark = pytest.mark.integration

KILLS = 3


def test_kill_9_of_the_service_at_random_points_loses_and_doubles_nothing(db_url, start_service, request):
    seed = seed_for()
    services = [start_service(db_url)]
    died: list[float] = []

    def kill_and_restart(rng: random.Random) -> int:
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.5, 3.0))
            died.append(time.time())
            services[-1].kill()
            time.sleep(rng.uniform(0.0, 1.0))
            services.append(start_service(db_url))
        return KILLS

    heard, outages, kills = storm(lambda name: services[-1].client(name), seed, kill_and_restart)
    assert outages > 0, "the kills went unnoticed: they did not happen in the middle of the storm"
    last = services[-1]
    assert "Admission state loaded" in last.log(tail=10**8)
    found = check(db_url, last.hub, heard, last.client("admin"), served=lambda req: False,
                  accrual_interval=0.5, died=died)
    assert last.client("admin").get("/pool").json()["models"][0]["held"] == "0"
    logs = "".join(s.log(tail=10**8) for s in services)
    tally = Tally(storms=1, kills=kills, checked=len(heard))
    summary = report(request, f"kill -9 of the service ({db_url.split(':')[0]})", seed, tally, found)
    assert tally.violations == 0, summary
    assert "Traceback" not in logs
    assert len(heard) == 24 * 3
    # the charges were put to the test: grants were metered, and what they cost was given back
    kinds = {e["kind"] for e in read_history(db_url).ledger}
    assert {"charge", "refund"} <= kinds, kinds
