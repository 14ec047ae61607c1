"""Two service processes on one database: the second waits as a standby and takes over when the first is killed.

On SQLite (a file lock beside the database) and on the real PostgreSQL (an
advisory lock on a connection of the leader's own). Twenty-four students
storm the leader; the leader is killed with SIGKILL in the middle; the
students follow to the standby (reached on its own port: in a cluster a
Service sends traffic to whichever replica is ready) and retry with the same
request ids. The standby must become ready within seconds, and afterwards
every invariant must hold: nothing lost, nothing granted twice, every charge
once.
"""

from __future__ import annotations

import random
import time

import pytest
import sqlalchemy as sa
from storms import Tally, check, report, seed_for, storm

from support.service_stack import Client, ServiceProcess
from support.stacks import free_port

pytestmark = pytest.mark.integration

#: what "within seconds" means on these shared 2-core machines (the lock is retried every half second)
TAKEOVER_BOUND = 10.0


class FollowingClient(Client):
    """A person's client of whichever replica leads now (looked up at every call)."""

    def __init__(self, leader: list[ServiceProcess], token: str, name: str):
        self.leader = leader
        super().__init__("", token, name)

    @property
    def base(self) -> str:
        return self.leader[0].direct_base

    @base.setter
    def base(self, value: str) -> None:
        pass


def wait_until(predicate, timeout: float) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not true after {timeout}s")
        time.sleep(0.05)
    return time.monotonic() - started


def ready(service: ServiceProcess) -> bool:
    try:
        return service.health().status_code == 200
    except Exception:  # noqa: BLE001 (not listening)
        return False


def test_a_standby_takes_over_from_a_killed_leader_losing_and_doubling_nothing(db_url, service_hub, tmp_path,
                                                                              request):
    seed = seed_for()
    first = ServiceProcess(service_hub, db_url, tmp_path / "first").start()
    second = ServiceProcess(service_hub, db_url, tmp_path / "second", port=free_port()).start()
    services = [first, second]
    try:
        wait_until(lambda: ready(first), 30)
        # the standby listens, says it is not ready, and makes no change
        health = second.health()
        assert health.status_code == 503 and health.json()["role"] == "standby", health.text
        assert first.health().json()["role"] == "leader"
        r = second.direct_client("student1").post("/requests", {"flavor": "npu-quarter"})
        assert r.status_code == 503, r.text
        assert "Standby" in second.log()

        leader = [first]
        died: list[float] = []
        took: list[float] = []

        def kill_the_leader(rng: random.Random) -> int:
            time.sleep(rng.uniform(1.0, 3.0))
            died.append(time.time())
            first.kill()
            took.append(wait_until(lambda: ready(second), 60))
            leader[0] = second
            return 1

        heard, outages, kills = storm(lambda name: FollowingClient(leader, service_hub.token(name), name), seed,
                                      kill_the_leader)
        assert outages > 0, "the kill went unnoticed: it did not happen in the middle of the storm"
        assert took[0] < TAKEOVER_BOUND, f"the standby took {took[0]:.1f}s to take over"
        assert second.health().json()["role"] == "leader"
        log = second.log(tail=10**8)
        assert "Leader lock taken" in log and "Admission state loaded" in log
        admin = second.direct_client("admin")
        found = check(db_url, service_hub, heard, admin, served=lambda req: False, accrual_interval=0.5, died=died)
        assert admin.get("/pool").json()["models"][0]["held"] == "0"
        tally = Tally(storms=1, kills=kills, checked=len(heard))
        summary = report(request, f"leader killed, standby takes over in {took[0]:.1f}s "
                                  f"({db_url.split(':')[0]})", seed, tally, found)
        assert tally.violations == 0, summary
        assert len(heard) == 24 * 3
        assert "Traceback" not in "".join(s.log(tail=10**8) for s in services)
    finally:
        for service in services:
            service.stop()


def test_a_leader_whose_lock_session_ends_stops_writing_and_one_leader_remains(postgres_url, service_hub, tmp_path):
    """PostgreSQL ends the leader's lock session (as it would a cut-off or hung leader's). The leader refuses
    changes at once; then either the standby has the lock (the old leader stops, exit status 3, and the standby
    leads) or nobody took it (the old leader takes it back and goes on). Never two leaders; the grant is kept."""
    first = ServiceProcess(service_hub, postgres_url, tmp_path / "first").start()
    second = ServiceProcess(service_hub, postgres_url, tmp_path / "second", port=free_port()).start()
    try:
        wait_until(lambda: ready(first), 30)
        assert second.health().status_code == 503
        held = first.client("student1").post("/requests", {"flavor": "npu-quarter"}).json()
        assert held["state"] == "granted"
        database = postgres_url.rsplit("/", 1)[1]
        engine = sa.create_engine(postgres_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
        with engine.connect() as db:
            ended = db.execute(sa.text(
                "SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                "WHERE l.locktype = 'advisory' AND l.granted AND d.datname = :db"), {"db": database}).all()
        engine.dispose()
        assert len(ended) == 1
        wait_until(lambda: "Leader lock in doubt" in first.log(), 30)
        wait_until(lambda: first.proc.poll() is not None or ready(first), 30)
        if first.proc.poll() is not None:  # the standby took the lock first
            assert first.proc.returncode == 3
            assert "another service process holds the leader lock now" in first.log()
            wait_until(lambda: ready(second), 30)
            leader = second.direct_client("student1")
        else:  # the old leader took it back: the standby stays a standby
            assert second.health().status_code == 503
            leader = first.client("student1")
        assert leader.get(f"/requests/{held['id']}").json()["state"] == "granted"
        assert not (ready(first) and ready(second))
    finally:
        first.stop()
        second.stop()
