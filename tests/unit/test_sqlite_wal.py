"""The hub's own SQLite database in WAL mode, still fsynced at each commit (npuhub.sqlite_wal)."""

from __future__ import annotations

import sqlalchemy as sa

from npuhub.sqlite_wal import wal_for_every_sqlite_database


def test_the_hubs_database_file_is_in_wal_mode_and_memory_databases_are_left_alone(tmp_path):
    wal_for_every_sqlite_database()
    wal_for_every_sqlite_database()  # twice: one listener
    # as JupyterHub makes its engine (jupyterhub.orm.new_session_factory)
    hub = sa.create_engine(f"sqlite:///{tmp_path / 'jupyterhub.sqlite'}", connect_args={"check_same_thread": False})
    with hub.connect() as db:
        assert db.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        assert db.execute(sa.text("PRAGMA synchronous")).scalar() == 2  # FULL: a returned commit is on disk
    memory = sa.create_engine("sqlite://")
    with memory.connect() as connection:
        assert connection.execute(sa.text("PRAGMA journal_mode")).scalar() == "memory"
