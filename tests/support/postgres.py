"""Fixtures for the real databases: a fresh PostgreSQL database per test, and SQLite or PostgreSQL in turn.

The integration and service tiers import them into their ``conftest.py``.
Each test's database has its own random name, so tests in parallel workers
never meet; the server itself is shared, so a test that restarts it is marked
``restarts_postgres`` and waits until no other test holds a database (and
holds them all off while it runs: ``support.parallel.postgres_lock``).
"""

from __future__ import annotations

import os
import uuid

import pytest

from support.parallel import postgres_lock
from support.parts import require


@pytest.fixture
def postgres_url(request):
    """A fresh database on the real PostgreSQL at 127.0.0.1:5432, dropped afterwards.

    A test marked ``restarts_postgres`` gets the server to itself for its whole run.
    """
    with postgres_lock(exclusive=request.node.get_closest_marker("restarts_postgres") is not None):
        yield from _fresh_database()


def _fresh_database():
    import sqlalchemy as sa

    admin_url = os.environ.get("NPUHUB_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    name = f"npuhub_test_{uuid.uuid4().hex[:10]}"
    # pre-ping: a test may restart PostgreSQL in between (tests/reliability), cutting the pooled connection
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    try:
        with engine.connect() as db:
            db.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception as e:  # noqa: BLE001 (any failure means: no PostgreSQL here)
        engine.dispose()
        require(False, f"PostgreSQL at {admin_url} ({str(e).splitlines()[0]})")
    yield admin_url.rsplit("/", 1)[0] + "/" + name
    with engine.connect() as db:
        db.execute(sa.text(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        db.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """Each test that takes it runs on SQLite and on the real PostgreSQL (a fresh database each time)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'npuhub.sqlite'}"
    return request.getfixturevalue("postgres_url")
