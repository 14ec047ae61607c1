"""What lets the suite run in parallel (``pytest -n 2``, pytest-xdist): ports, machine-wide names, PostgreSQL.

Each xdist worker is a separate process running whole test files (``--dist
loadfile``), so each has its own session fixtures (its own ``service_hub``).
What workers, and other test runs on the same machine, still share is
machine-wide, and this module hands it out:

- **ports**: ``free_port()`` gives each worker its own slice of 20000-31999,
  below Linux's ephemeral range (32768-60999), so neither another worker nor
  an outgoing connection can take a port between the test choosing it and its
  process binding it;
- **names of machine-wide things** (Unix accounts and groups, cgroups, ...):
  ``machine_prefix()`` is unique to this test process among those running on
  the machine. A test or a stack that creates a Unix account for a person
  must put it in the account's name (e.g. ``f"{machine_prefix()}student1"``),
  or two workers creating ``student1`` at once collide;
- **the PostgreSQL server**: every test's database is its own
  (``support.postgres``), but a test marked ``restarts_postgres`` restarts the
  whole server. ``postgres_lock`` lets such a test run only while no other test
  (of any worker, or any other run on the machine) holds a database.

Workers are named by xdist in ``$PYTEST_XDIST_WORKER`` (gw0, gw1, ...), with
their count in ``$PYTEST_XDIST_WORKER_COUNT``; without xdist there is one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

#: Ports handed out by ``free_port``: below the ephemeral range, above common fixed ports (8000, 9000...).
PORTS = range(20000, 32000)


def worker_index() -> int:
    """0, 1, ... for xdist's workers gw0, gw1, ...; 0 without xdist."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(name.removeprefix("gw")) if name.removeprefix("gw").isdigit() else 0


def worker_count() -> int:
    count = os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")
    return max(1, int(count)) if count.isdigit() else 1


def worker_ports() -> range:
    """This worker's slice of ``PORTS``."""
    size = len(PORTS) // worker_count()
    start = PORTS.start + worker_index() * size
    return range(start, start + size)


class _PortCursor:
    """Walks this worker's ports from a random place (another run on the machine starts elsewhere)."""

    def __init__(self) -> None:
        self.ports: range | None = None
        self.next = 0

    def take(self) -> int:
        if self.ports != worker_ports():  # first use, or the worker's environment changed
            self.ports = worker_ports()
            self.next = random.randrange(len(self.ports))
        for _ in range(len(self.ports)):
            port = self.ports[self.next % len(self.ports)]
            self.next += 1
            if _bindable(port):
                return port
        raise RuntimeError(f"no free port left in {self.ports}")


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


_cursor = _PortCursor()


def free_port() -> int:
    """A loopback TCP port free right now that no other worker of this run will be given.

    Ports are taken in turn, never the same one twice in a row, so a port given
    to a process that has not bound it yet is not given again at once.
    """
    return _cursor.take()


def machine_prefix() -> str:
    """A short prefix unique to this test process on the machine, for names of machine-wide things.

    Unix account names are at most 32 characters: the prefix is 8 (``t`` and 7 digits of the pid),
    leaving 24 for the person's name.
    """
    return f"t{os.getpid():07d}"[-8:]


def _lock_dir() -> Path:
    return Path(os.environ.get("NPUHUB_TEST_LOCK_DIR") or tempfile.gettempdir())


@contextlib.contextmanager
def postgres_lock(exclusive: bool) -> Iterator[None]:
    """Hold the PostgreSQL server: shared by tests that use a database, exclusive by one that restarts it.

    The lock is machine-wide (files in the temporary directory), as the server is: it also keeps other
    test runs on the machine (other checkouts) out of the way of a restart. A waiting exclusive holder
    goes first: readers pass a turnstile it holds, so a worker running database tests back to back
    cannot starve it.
    """
    folder = _lock_dir()
    with open(folder / "npuhub-tests-postgres.turnstile", "a+") as turnstile, \
            open(folder / "npuhub-tests-postgres.lock", "a+") as lock:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        finally:
            if not exclusive:
                fcntl.flock(turnstile, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            if exclusive:
                fcntl.flock(turnstile, fcntl.LOCK_UN)
