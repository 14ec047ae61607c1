"""The leader lock beside a SQLite database (fcntl), and which lock fits which database.

That the kernel frees it with a killed process, and the PostgreSQL lock with a killed process's
connection, is tested with real processes in tests/reliability/test_leader_takeover.py.
"""

from __future__ import annotations

import asyncio

from npuhub.service.leader import FileLeaderLock, NoLeaderLock, PostgresLeaderLock, leader_lock_for


def test_the_lock_fits_the_database(tmp_path):
    assert isinstance(leader_lock_for("postgresql+psycopg://u@h/db"), PostgresLeaderLock)
    lock = leader_lock_for(f"sqlite:///{tmp_path / 'a.sqlite'}")
    assert isinstance(lock, FileLeaderLock) and lock.path == tmp_path / "a.sqlite.leader"
    assert isinstance(leader_lock_for("sqlite://"), NoLeaderLock)


def test_a_second_holder_waits_until_the_first_lets_go(tmp_path):
    async def scenario():
        first, second = FileLeaderLock(tmp_path / "db.leader", 0.2), FileLeaderLock(tmp_path / "db.leader", 0.2)
        await first.acquire()
        waiting = asyncio.create_task(second.acquire())
        await asyncio.sleep(0.5)
        assert not waiting.done()
        first.release()
        await asyncio.wait_for(waiting, 2)
        second.release()

    asyncio.run(scenario())

