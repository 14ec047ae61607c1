"""SQLite in write-ahead-log mode, still fsynced at every commit: for npuhub's databases and the hub's own.

The default rollback journal syncs the journal and the database file at every
commit (about 4 ms each on a quiet disk, far more on a busy one); the log
syncs one append (about 0.2 ms), and a commit that returned is as durable as
before (``synchronous=FULL``). Under a workshop burst the hub's own database
commits were half of the hub's busy time (benchmarks/README.md, "A workshop
burst").
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import event
from sqlalchemy.engine import Engine

__all__ = ["sqlite_durable_wal", "wal_for_every_sqlite_database"]


def sqlite_durable_wal(dbapi_connection, _record=None) -> None:
    """SQLAlchemy ``connect`` listener: this SQLite connection in WAL mode with ``synchronous=FULL``."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
    finally:
        cursor.close()


def _every_file_database(dbapi_connection, record) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    names = [row[2] for row in dbapi_connection.execute("PRAGMA database_list")]
    if names and names[0]:  # a file, not ":memory:" (its name is empty)
        sqlite_durable_wal(dbapi_connection, record)


_REGISTERED = False


def wal_for_every_sqlite_database() -> None:
    """In this process (the hub), every SQLite file database SQLAlchemy opens from now on gets WAL (idempotent)."""
    global _REGISTERED
    if not _REGISTERED:
        event.listen(Engine, "connect", _every_file_database)
        _REGISTERED = True
