"""The workshop tables (SQLAlchemy) in the npuhub database: codes and their guests."""

from __future__ import annotations

from datetime import timezone

from sqlalchemy import Column, DateTime, ForeignKey, Integer, MetaData, String, Table, TypeDecorator

from .policy import DISPLAY_NAME_MAX

__all__ = ["metadata", "workshops", "workshop_guests", "workshop_roster", "UTCDateTime"]


class UTCDateTime(TypeDecorator):
    """An aware datetime, kept as naive UTC (SQLite has no time zones; PostgreSQL gets the same values)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: npuhub stores only aware times")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=timezone.utc)


metadata = MetaData()

workshops = Table(
    "npuhub_workshops",
    metadata,
    Column("code", String(16), primary_key=True),
    Column("group_name", String(255), nullable=False, index=True),
    Column("flavor", String(63)),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime, nullable=False),
    Column("max_guests", Integer),
    # Seats taken: every guest ever admitted, removed or not; "max guests" bounds it.
    Column("guests", Integer, nullable=False, default=0),
    Column("created_by", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
    Column("revoked_by", String(255)),
    # materials: a git repository nbgitpuller pulls into each participant's server
    Column("materials_repo", String(1000)),
    Column("materials_branch", String(255)),
    Column("materials_path", String(1000)),
    # slices held for the course from the window's start (the service's reservation)
    Column("reserved_count", Integer),
    Column("reservation_id", String(64)),
    # the device-hours the teacher plans for the window (exact, as the service writes amounts)
    Column("budget_hours", String(64)),
)

workshop_guests = Table(
    "npuhub_workshop_guests",
    metadata,
    Column("username", String(255), primary_key=True),
    Column("code", String(16), ForeignKey("npuhub_workshops.code"), nullable=False, index=True),
    Column("display_name", String(4 * DISPLAY_NAME_MAX), nullable=False),
    Column("signed_in_at", UTCDateTime, nullable=False),
    Column("removed_at", UTCDateTime),
)

workshop_roster = Table(
    "npuhub_workshop_roster",
    metadata,
    Column("code", String(16), ForeignKey("npuhub_workshops.code"), primary_key=True),
    # a university account (the hub's user name) that takes part: her sign-in adds the course group
    Column("username", String(255), primary_key=True, index=True),
)
