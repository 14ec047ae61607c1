"""One writer: the leader lock a service takes before it loads the admission state, and keeps while it runs.

Two replicas of the service may run (a Deployment with two pods, or a
restarted pod beside one not yet gone); only the one holding the lock loads
the state, answers changes and runs the periodic work. The other is a
*standby*: it listens, answers ``/health`` with 503 ("not ready", so a
Kubernetes Service sends it no traffic), and takes the lock, then loads the
state from the database, as soon as the leader is gone.

- PostgreSQL: a session-level ``pg_try_advisory_lock`` on a dedicated
  connection. The lock lives as long as that connection: a leader that dies
  (even ``kill -9``) closes it and the lock is released at once. The leader
  pings the connection every ``interval`` seconds; the session is opened with
  ``idle_session_timeout`` and TCP keep-alives, so a leader that hangs or is
  cut off from the database loses the session (and the lock) after
  ``timeout`` seconds. A leader whose ping fails refuses every change at
  once (it may no longer be the only writer) and tries to take the lock back:
  if it can (the database was away, nobody else took over), it reloads the
  state and goes on; if another process holds the lock, it stops (exit
  status 3).
- SQLite: an exclusive ``fcntl`` lock on ``<database>.leader`` beside the
  database file; the kernel releases it when the process dies. (SQLite is for
  one machine: both replicas must see the same file system.)

A standby tries again every ``interval / 4`` seconds, so it takes over within
about half a second of the leader's death (plus the time to load the state).
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Awaitable, Callable

from sqlalchemy.engine import make_url

if TYPE_CHECKING:  # pragma: no cover
    from .engine import Engine
    from .metrics import Metrics

__all__ = ["LeaderLock", "PostgresLeaderLock", "FileLeaderLock", "NoLeaderLock", "LeadershipLost", "Leadership",
           "leader_lock_for"]

#: the advisory lock's key: the same in every replica, and unlikely to clash with anything else in the database
LOCK_KEY = int.from_bytes(hashlib.sha256(b"npuhub-service-leader").digest()[:8], "big", signed=True)


class LeadershipLost(Exception):
    """The lock can no longer be shown to be held: this process must stop writing (and stop)."""


class LeaderLock:
    """The contract: ``acquire()`` returns once this process leads; ``keep()`` returns only by raising
    ``LeadershipLost``; ``regain()`` then tries to take the lock back (True) or finds another process holds
    it (False); ``release()`` gives the lock up (at a clean stop)."""

    description = "no lock"

    async def acquire(self) -> None:
        raise NotImplementedError

    async def keep(self) -> None:
        raise NotImplementedError

    async def regain(self) -> bool:
        return False

    def release(self) -> None:
        raise NotImplementedError


class NoLeaderLock(LeaderLock):
    """A database only one process can open (SQLite in memory): nothing to share, so nothing to lock."""

    async def acquire(self) -> None:
        return None

    async def keep(self) -> None:
        await asyncio.Event().wait()

    def release(self) -> None:
        return None


class PostgresLeaderLock(LeaderLock):
    """``pg_try_advisory_lock`` on a connection of its own, pinged every ``interval`` seconds."""

    def __init__(self, db_url: str, interval: float = 2.0, timeout: float = 10.0, log: logging.Logger | None = None):
        url = make_url(db_url).set(drivername="postgresql")
        self.conninfo = url.render_as_string(hide_password=False)
        self.description = f"PostgreSQL advisory lock {LOCK_KEY} on {url.render_as_string(hide_password=True)}"
        self.interval = interval
        self.timeout = timeout
        self.log = log or logging.getLogger("npuhub.service")
        self._conn = None

    async def _connect(self):
        import psycopg

        return await psycopg.AsyncConnection.connect(
            self.conninfo, autocommit=True, connect_timeout=3, application_name="npuhub-service-leader",
            keepalives=1, keepalives_idle=max(1, int(self.timeout / 2)), keepalives_interval=1, keepalives_count=3,
            # a hung or cut-off leader's session ends after `timeout` without a ping, and with it the lock
            options=f"-c idle_session_timeout={int(self.timeout * 1000)}",
        )

    async def acquire(self) -> None:
        waited_since = time.monotonic()
        told = False
        while True:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = await self._connect()
                cur = await self._conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,))
                (held,) = await cur.fetchone()
                if held:
                    self.log.info("Leader lock taken (%s) after %.1fs", self.description, time.monotonic() - waited_since)
                    return
                if not told:
                    self.log.info("Standby: another service holds the leader lock (%s); waiting for it", self.description)
                    told = True
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 (the database away: keep trying, as a standby)
                self.log.warning("Standby: cannot reach the database for the leader lock (%s)", e)
                await self._drop()
            await asyncio.sleep(self.interval / 4)

    async def keep(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                cur = await asyncio.wait_for(self._conn.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
                    "AND granted AND classid = %s::bigint::oid AND objid = %s::bigint::oid AND objsubid = 1",
                    ((LOCK_KEY >> 32) & 0xFFFFFFFF, LOCK_KEY & 0xFFFFFFFF)), self.timeout)
                (count,) = await cur.fetchone()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001
                raise LeadershipLost(f"the leader lock's connection failed ({e})") from None
            if not count:
                raise LeadershipLost("the leader lock is no longer held by this session")

    async def regain(self) -> bool:
        """After a failed ping: True once the lock is taken back on a new session (nobody else took it), False as
        soon as the database answers that another session holds it. Waits while the database cannot be reached."""
        await self._drop()
        while True:
            try:
                self._conn = await self._connect()
                cur = await self._conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,))
                (held,) = await cur.fetchone()
                if held:
                    self.log.warning("Leader lock taken back (%s)", self.description)
                    return True
                await self._drop()
                return False
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 (the database away: nobody can write; keep trying)
                self.log.warning("Cannot reach the database to take the leader lock back (%s)", e)
                await self._drop()
            await asyncio.sleep(self.interval / 4)

    async def _drop(self) -> None:
        if self._conn is not None:
            try:
                await self._conn.close()
            except Exception:  # noqa: BLE001
                pass
            self._conn = None

    def release(self) -> None:
        # closing the session releases a session-level advisory lock; at exit the OS closes it anyway
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            try:
                conn.pgconn.finish()
            except Exception:  # noqa: BLE001
                pass


class FileLeaderLock(LeaderLock):
    """An exclusive ``fcntl.flock`` on a file beside the SQLite database; the kernel drops it with the process."""

    def __init__(self, path: str | Path, interval: float = 2.0, log: logging.Logger | None = None):
        self.path = Path(path)
        self.description = f"file lock {self.path}"
        self.interval = interval
        self.log = log or logging.getLogger("npuhub.service")
        self._fd: int | None = None

    def _try(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    async def acquire(self) -> None:
        waited_since = time.monotonic()
        told = False
        while not self._try():
            if not told:
                self.log.info("Standby: another service holds the leader lock (%s); waiting for it", self.description)
                told = True
            await asyncio.sleep(self.interval / 4)
        self.log.info("Leader lock taken (%s) after %.1fs", self.description, time.monotonic() - waited_since)

    async def keep(self) -> None:
        await asyncio.Event().wait()  # the kernel holds it for as long as the process lives

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None


def leader_lock_for(db_url: str, interval: float = 2.0, timeout: float = 10.0,
                    log: logging.Logger | None = None) -> LeaderLock:
    """The lock that fits the database: an advisory lock on PostgreSQL, a file lock beside a SQLite file."""
    url = make_url(db_url)
    if url.get_backend_name() == "postgresql":
        return PostgresLeaderLock(db_url, interval, timeout, log)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return FileLeaderLock(f"{url.database}.leader", interval, log)
    return NoLeaderLock()


class Leadership:
    """This process's role around its lock: ``standby``, then ``leader``; ``regaining`` while the lock is in doubt."""

    def __init__(self, lock: LeaderLock, engine: Engine, metrics: Metrics, log: logging.Logger):
        self.lock = lock
        self.engine = engine
        self.metrics = metrics
        self.log = log
        self.role = "standby"
        #: True once another process was found holding the lock: this one stopped, and must exit non-zero
        self.lost = False
        metrics.leader.set(0)

    async def wait(self, stop: asyncio.Event, listen: Callable[[], None]) -> bool:
        """Wait to lead (True), or for ``stop`` (False). ``listen`` is called if the lock is not free at once:
        a standby listens (its /health says 503); a lone service listens only once its state is loaded."""
        acquired = asyncio.create_task(self.lock.acquire())
        stopped = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait({acquired, stopped}, timeout=0.5, return_when=asyncio.FIRST_COMPLETED)
            if not done:
                listen()
                await asyncio.wait({acquired, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (acquired, stopped):
                if not task.done():
                    task.cancel()
            await asyncio.gather(acquired, stopped, return_exceptions=True)
        if not acquired.done() or acquired.cancelled() or acquired.exception() is not None:
            return False
        self._lead()
        return True

    async def hold(self, stop: asyncio.Event, reloaded: Callable[[], Awaitable[None]]) -> None:
        """Keep the lock. In doubt: refuse changes, then take it back (reload, call ``reloaded``) or stop."""
        while True:
            try:
                await self.lock.keep()
            except LeadershipLost as e:
                self.role = "regaining"
                self.metrics.leader.set(0)
                self.engine.suspend(f"leader lock in doubt: {e}")
                self.log.error("Leader lock in doubt (%s): refusing changes until it is taken back", e)
                if not await self.lock.regain():
                    self.log.critical("FATAL: another service process holds the leader lock now; stopping without "
                                      "another write.")
                    self.lost = True
                    stop.set()
                    return
                self._lead()
                if await self.engine.load():
                    await reloaded()

    def _lead(self) -> None:
        self.role = "leader"
        self.metrics.leader.set(1)
