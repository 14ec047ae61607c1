"""The admission database goes away (real PostgreSQL refusing connections) and comes back.

The service must fail closed (refuse every change with a clear message and
count the refusals), keep running sessions exactly as they are (never release
because the database is down), and recover by itself when it returns, with
the outage's time charged once to the sessions that ran through it.
"""

from __future__ import annotations

import calendar
import time
from contextlib import contextmanager
from datetime import datetime
from fractions import Fraction

import pytest
import sqlalchemy as sa
from test_service_api import metric, wait_for

pytestmark = pytest.mark.integration


@contextmanager
def database_refusing_connections(db_url: str):
    """Like pulling the database's plug: no new connections, and the open ones are cut."""
    name = db_url.rsplit("/", 1)[1]
    admin = sa.create_engine(db_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as db:
            db.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            db.execute(sa.text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        yield
    finally:
        with admin.connect() as db:
            db.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()


def test_outage_fails_closed_keeps_sessions_and_recovers(postgres_url, start_service):
    svc = start_service(postgres_url)
    s1, s2, admin = svc.client("student1"), svc.client("student2"), svc.client("admin")
    running = s1.post("/requests", {"flavor": "npu-quarter"}).json()
    assert running["state"] == "granted"

    with database_refusing_connections(postgres_url):
        outage_started = time.time()
        r = s2.post("/requests", {"flavor": "npu-quarter", "id": "after-outage"})
        assert r.status_code == 503, r.text
        assert r.json()["reason"] == "store_unavailable"
        assert "running servers are not affected" in r.json()["error"] and "数据库" in r.json()["error"]

        # her session is kept as it is, through several ticks, even if she asks to end it now
        time.sleep(1.5)
        assert s1.get(f"/requests/{running['id']}").json()["state"] == "granted"
        assert s1.delete(f"/requests/{running['id']}").status_code == 503
        pool = admin.get("/pool").json()
        assert pool["models"][0]["held"] == "1/4" and pool["store"]["available"] is False
        assert metric(admin, "npuhub_store_available") == 0
        assert metric(admin, "npuhub_store_unavailable_refusals_total") >= 2
        outage_ended = time.time()

    # back by itself: the refused request goes through now, the running session is still hers
    r = wait_for(lambda: (r := s2.post("/requests", {"flavor": "npu-quarter", "id": "after-outage"})).status_code == 201
                 and r, timeout=10)
    assert r.json()["state"] == "granted"
    assert metric(admin, "npuhub_store_available") == 1
    assert "Traceback" not in svc.log(tail=10**8)

    # the time she held her slice, outage included, is charged exactly once: her share x the time from
    # grant to release, in whole milliseconds (metering drops the last, unfinished millisecond)
    # her session has no server behind it (API calls only), so the operator plays the hub's spawner, which
    # releases a grant once its server stopped; her own DELETE would find no server and charge nothing
    ended = admin.delete(f"/requests/{running['id']}?stopped=true").json()
    assert ended["state"] == "released" and ended["reason"] == "stopped", ended
    charged = Fraction(ended["charged"]["exact"]) * 3600  # device-seconds
    held = Fraction(epoch(ended["ended_at"]) - epoch(ended["granted_at"]))
    assert held > Fraction(outage_ended - outage_started)
    used = charged / Fraction(1, 4)  # seconds charged
    # float sums of the metered milliseconds may drift by microseconds; an outage charged twice adds seconds
    assert held - Fraction(2, 1000) < used <= held + Fraction(1, 10_000), (float(used), float(held))
    ledger = admin.get("/ledger", params={"account": "user:student1", "limit": 1000}).json()["entries"]
    charges = sum(-Fraction(e["amount"]["exact"]) for e in ledger if e["kind"] == "charge" and e["request"] == running["id"])
    assert charges * 3600 == charged


def epoch(iso: str) -> Fraction:
    """An API time (ISO 8601, UTC, to the microsecond) as exact epoch seconds."""
    at = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return Fraction(calendar.timegm(at.utctimetuple())) + Fraction(at.microsecond, 10**6)
