"""Alembic environment for the workshop tables (run through npuhub.workshops.store.upgrade)."""

from alembic import context

from npuhub.workshops.tables import metadata

connection = context.config.attributes["connection"]
# Its own version table: the admission's tables share the database and have their own history.
context.configure(connection=connection, target_metadata=metadata,
                  version_table="npuhub_workshops_alembic_version")
with context.begin_transaction():
    context.run_migrations()
