"""Alembic environment for the announcements table (run through npuhub.announcements.store.upgrade)."""

from alembic import context

from npuhub.announcements.tables import metadata

connection = context.config.attributes["connection"]
# Its own version table: the admission's tables share the database and have their own history.
context.configure(connection=connection, target_metadata=metadata,
                  version_table="npuhub_announcements_alembic_version")
with context.begin_transaction():
    context.run_migrations()
