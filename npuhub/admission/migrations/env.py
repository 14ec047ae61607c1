"""Alembic environment for the admission tables (run through npuhub.admission.store.upgrade)."""

from alembic import context

from npuhub.admission.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, version_table="npuhub_alembic_version")
with context.begin_transaction():
    context.run_migrations()
