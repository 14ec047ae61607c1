"""Faults of the admission database made for real: a file another writer holds, a row the database refuses."""

from __future__ import annotations

import sqlite3
from typing import Callable

__all__ = ["LockedSQLite", "poisoned_reservation"]


class LockedSQLite:
    """Another writer holding the SQLite file (``with LockedSQLite(path):``): every commit meanwhile fails."""

    def __init__(self, path):
        self.db = sqlite3.connect(path, isolation_level=None)

    def __enter__(self):
        self.db.execute("BEGIN EXCLUSIVE")
        return self

    def __exit__(self, *exc):
        self.db.execute("ROLLBACK")
        self.db.close()


def poisoned_reservation(now: float) -> Callable:
    """A change the core accepts and the database refuses: NaN passes every comparison, SQLite stores NULL."""

    def reserve_nan(adm):
        return adm.reserve("course-demo", "npu-quarter", 1, now + 3600, now + 7200, "teacher1",
                           hold=float("nan"), reservation_id="poisoned")

    return reserve_nan
