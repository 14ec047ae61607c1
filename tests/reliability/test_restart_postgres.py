"""PostgreSQL restarted under a request storm: the service refuses changes while it is away, then nothing is lost.

Twenty-four students storm the service while the real PostgreSQL server is
restarted (``pg_ctlcluster ... restart``, fast shutdown: every connection
is cut) twice at seeded random moments. The service is not restarted: it
must answer 503 (``store_unavailable``) while the database is away, reload
from it once it is back, and leave a history in which every invariant holds.
The restart is kept short, and the test runs while no other test holds a
database (the ``restarts_postgres`` mark: other workers' and other runs' database
tests wait for it, and it waits for them; ``support.parallel.postgres_lock``).
"""

from __future__ import annotations

import random
import subprocess
import time
from pathlib import Path

import pytest
from invariants import read_history
from storms import Tally, check, report, seed_for, storm

pytestmark = [pytest.mark.integration, pytest.mark.restarts_postgres]

RESTARTS = 2


def restart_postgres() -> None:
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[-1]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"], check=True,
                   capture_output=True, timeout=60)


def test_postgres_restarted_under_a_storm_loses_and_doubles_nothing(postgres_url, start_service, request):
    seed = seed_for()
    svc = start_service(postgres_url)

    def restarts(rng: random.Random) -> int:
        for _ in range(RESTARTS):
            time.sleep(rng.uniform(1.0, 4.0))
            restart_postgres()
        return RESTARTS

    heard, outages, restarted = storm(svc.client, seed, restarts)
    log = svc.log(tail=10**8)
    assert "The admission database cannot be reached" in log and "The admission database is back" in log, \
        "the restarts went unnoticed: the database was never away in the middle of the storm"
    assert svc.proc.poll() is None, "the service did not ride out the restarts"
    found = check(postgres_url, svc.hub, heard, svc.client("admin"), served=lambda req: False,
                  accrual_interval=0.5)
    tally = Tally(storms=1, kills=restarted, checked=len(heard))
    summary = report(request, "PostgreSQL restarted", seed, tally, found)
    assert tally.violations == 0, summary
    assert len(heard) == 24 * 3
    assert "Traceback" not in log
    kinds = {e["kind"] for e in read_history(postgres_url).ledger}
    assert {"charge", "refund"} <= kinds, kinds
