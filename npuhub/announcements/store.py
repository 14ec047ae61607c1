"""Announcements in SQL (the service's database: SQLite, or PostgreSQL in production), one transaction per change.

The table has its own alembic history and version table, so the admission's
migrations and these never meet. A removed announcement keeps its row (who
removed it and when), and is never shown again.
"""

from __future__ import annotations

import uuid
from importlib import resources

import sqlalchemy as sa
from sqlalchemy import func, insert, select, update

from ..i18n import Text
from .policy import MAX_OPEN_PER_SCOPE, Announcement, AnnouncementError
from .tables import announcements

__all__ = ["AnnouncementStore", "upgrade"]


def upgrade(engine: sa.Engine) -> None:
    """Bring the announcements table to the newest revision (alembic), creating it on an empty database."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("npuhub.announcements") / "migrations"))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


def _row(row) -> Announcement:
    return Announcement(row.id, Text(row.text_zh, row.text_en), row.starts, row.ends, row.group_name,
                        row.author, row.created, row.removed_at, row.removed_by)


class AnnouncementStore:
    """The announcements of one database. ``engine`` may be shared (the service hands its own)."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self._migrated = False

    @classmethod
    def from_url(cls, db_url: str) -> "AnnouncementStore":
        kwargs = {"connect_args": {"timeout": 30}} if db_url.startswith("sqlite") else {"pool_pre_ping": True}
        return cls(sa.create_engine(db_url, **kwargs))

    def _ready(self) -> None:
        if not self._migrated:
            upgrade(self.engine)
            self._migrated = True

    def add(self, *, text: Text, starts: float, ends: float, group: str | None, author: str,
            now: float) -> Announcement:
        """A new announcement (the caller has checked text, window and permission).

        Raises AnnouncementError ``announcement_too_many`` when its scope already
        has MAX_OPEN_PER_SCOPE announcements that have not ended.
        """
        self._ready()
        scope_is = (announcements.c.group_name.is_(None) if group is None
                    else announcements.c.group_name == group)
        new = Announcement(uuid.uuid4().hex, text, starts, ends, group, author, now)
        with self.engine.begin() as db:
            open_now = db.execute(select(func.count()).select_from(announcements).where(
                scope_is, announcements.c.removed_at.is_(None), announcements.c.ends > now)).scalar_one()
            if open_now >= MAX_OPEN_PER_SCOPE:
                raise AnnouncementError("announcement_too_many", status=409, scope=new.scope,
                                        max=MAX_OPEN_PER_SCOPE)
            db.execute(insert(announcements).values(
                id=new.id, text_zh=text.zh, text_en=text.en, starts=starts, ends=ends, group_name=group,
                author=author, created=now))
        return new

    def get(self, announcement_id: str) -> Announcement | None:
        self._ready()
        with self.engine.connect() as db:
            row = db.execute(select(announcements).where(announcements.c.id == announcement_id)).first()
        return _row(row) if row else None

    def current(self, now: float, *, upcoming: bool = False) -> list[Announcement]:
        """Announcements shown now (with ``upcoming``: also those still to come), earliest start first."""
        self._ready()
        query = select(announcements).where(announcements.c.removed_at.is_(None), announcements.c.ends > now)
        if not upcoming:
            query = query.where(announcements.c.starts <= now)
        query = query.order_by(announcements.c.starts, announcements.c.created, announcements.c.id)
        with self.engine.connect() as db:
            return [_row(row) for row in db.execute(query)]

    def remove(self, announcement_id: str, *, by: str, now: float) -> bool:
        """Stop showing it; False when there is none (or it was removed already)."""
        self._ready()
        with self.engine.begin() as db:
            done = db.execute(update(announcements).where(
                announcements.c.id == announcement_id, announcements.c.removed_at.is_(None),
            ).values(removed_at=now, removed_by=by))
        return done.rowcount == 1
