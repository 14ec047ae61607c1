"""`npuhub migrate`: the one-shot schema migration the Helm chart runs as a hook Job, on a real PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory


def _schema_head(package: str) -> str:
    """The newest revision of a package's schema, as its migration scripts say."""
    from importlib import resources

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files(package) / "migrations"))
    return ScriptDirectory.from_config(cfg).get_current_head()


HEAD = _schema_head("npuhub.admission")
WORKSHOPS_HEAD = _schema_head("npuhub.workshops")

pytestmark = pytest.mark.integration


def migrate(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``npuhub migrate ARGS`` in a process of its own."""
    environ = {k: v for k, v in os.environ.items() if k != "NPUHUB_DB_URL"}
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "npuhub.cli", "migrate", *args], capture_output=True, text=True,
                          timeout=120, env=environ)


def tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def job_container() -> dict:
    """The chart's migrations hook Job, as Helm renders it (tests/helm has the rest of the chart)."""
    from support.helm_chart import find, render, values_file

    job = find(render(values_file("minimal")), "Job", "npuhub-migrate")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return container


def test_the_charts_hook_job_creates_the_admission_tables_once_and_the_service_store_opens_them(postgres_url):
    container = job_container()
    assert container["command"][0] == "npuhub"
    (db_env,) = container["env"]
    assert db_env["name"] == "NPUHUB_DB_URL" and db_env["valueFrom"]["secretKeyRef"]["key"] == "url"
    # the Job's own command and environment, the Secret's URL being a real PostgreSQL database
    first = migrate(*container["command"][2:], env={"NPUHUB_DB_URL": postgres_url})
    assert first.returncode == 0, first.stderr
    assert f"admission tables at revision {HEAD}" in first.stdout
    made = tables(postgres_url)
    assert {"npuhub_alembic_version", "npuhub_requests", "npuhub_ledger"} <= made, made
    # the workshop tables only when asked for (the chart's hub keeps them in its own database)
    assert "npuhub_workshops" not in made

    again = migrate("--db-url", postgres_url, "--workshops")
    assert again.returncode == 0, again.stderr
    assert f"admission tables at revision {HEAD}" in again.stdout
    assert f"workshop tables at revision {WORKSHOPS_HEAD}" in again.stdout
    assert {"npuhub_workshops", "npuhub_workshop_guests", "npuhub_workshops_alembic_version"} <= tables(postgres_url)

    # the service's store finds the schema it expects (it would otherwise migrate it itself)
    from npuhub.admission.store import AdmissionStore
    from npuhub.site_config import load_site_config

    store = AdmissionStore(postgres_url)
    try:
        adm = store.open(load_site_config(), time.time)
        assert adm.requests == {}
    finally:
        store.engine.dispose()


def test_migrate_says_what_is_wrong_without_a_traceback_and_hides_the_password():
    missing = migrate()
    assert missing.returncode == 1
    assert "give --db-url or set $NPUHUB_DB_URL" in missing.stderr

    unreachable = migrate("--db-url", "postgresql+psycopg://npuhub:s3cret-pw@127.0.0.1:1/npuhub")
    assert unreachable.returncode == 1
    assert "127.0.0.1:1/npuhub" in unreachable.stderr and "Connection refused" in unreachable.stderr
    assert "s3cret-pw" not in unreachable.stderr + unreachable.stdout
    assert "Traceback" not in unreachable.stderr

    nonsense = migrate("--db-url", "not a url")
    assert nonsense.returncode == 1 and "the database URL is not valid" in nonsense.stderr
