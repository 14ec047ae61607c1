"""tests/support/parallel.py: what keeps the suite's parallel workers (pytest-xdist) apart."""

from __future__ import annotations

import fcntl
import threading
import time

import pytest

from support import parallel


@pytest.fixture
def two_workers(monkeypatch):
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")

    def be(worker: str) -> None:
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
    return be


def test_each_worker_gets_its_own_ports_below_the_ephemeral_range(two_workers):
    two_workers("gw0")
    first = parallel.worker_ports()
    two_workers("gw1")
    second = parallel.worker_ports()
    assert not set(first) & set(second)
    assert first.start >= parallel.PORTS.start and second.stop <= parallel.PORTS.stop
    with open("/proc/sys/net/ipv4/ip_local_port_range") as ranges:
        ephemeral_start = int(ranges.read().split()[0])
    assert parallel.PORTS.stop <= ephemeral_start


def test_free_port_stays_in_the_workers_slice_and_never_repeats_at_once(two_workers):
    two_workers("gw1")
    ports = [parallel.free_port() for _ in range(50)]
    assert all(p in parallel.worker_ports() for p in ports)
    assert len(set(ports)) == 50


def test_without_xdist_there_is_one_worker_with_every_port(monkeypatch):
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    assert parallel.worker_ports() == parallel.PORTS


def test_the_machine_prefix_fits_a_unix_account_name():
    prefix = parallel.machine_prefix()
    assert len(prefix) == 8 and prefix[0].isalpha() and prefix[1:].isdigit()  # 24 of 32 characters left


def hold(exclusive: bool, events: list, name: str, seconds: float) -> threading.Thread:
    def run():
        with parallel.postgres_lock(exclusive):
            events.append(f"{name} in")
            time.sleep(seconds)
            events.append(f"{name} out")
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def wait_for(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def turnstile_taken(folder) -> bool:
    with open(folder / "npuhub-tests-postgres.turnstile", "a+") as turnstile:
        try:
            fcntl.flock(turnstile, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(turnstile, fcntl.LOCK_UN)
        return False


def test_a_restart_waits_for_every_database_user_and_holds_the_next_off(tmp_path, monkeypatch):
    monkeypatch.setenv("NPUHUB_TEST_LOCK_DIR", str(tmp_path))
    events: list[str] = []
    readers = [hold(False, events, "reader1", 1.0), hold(False, events, "reader2", 1.0)]
    wait_for(lambda: len(events) == 2)
    writer = hold(True, events, "restart", 0.3)
    wait_for(lambda: turnstile_taken(tmp_path))  # the restart waits for the readers, holding the turnstile
    late = hold(False, events, "late", 0.0)  # comes while the restart waits: it goes after it
    for thread in [*readers, writer, late]:
        thread.join(10)
    assert set(events[:2]) == {"reader1 in", "reader2 in"}
    assert events.index("restart in") > max(events.index("reader1 out"), events.index("reader2 out"))
    assert events.index("restart out") == events.index("restart in") + 1
    assert events.index("late in") > events.index("restart out")


def test_database_users_share_the_server(tmp_path, monkeypatch):
    monkeypatch.setenv("NPUHUB_TEST_LOCK_DIR", str(tmp_path))
    events: list[str] = []
    threads = [hold(False, events, f"r{i}", 0.3) for i in range(3)]
    for thread in threads:
        thread.join(10)
    assert all(e.endswith(" in") for e in events[:3]), events
