"""The announcements table (SQLAlchemy), in the npuhub service's database. Times are epoch seconds."""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, MetaData, String, Table, Text

__all__ = ["metadata", "announcements"]

metadata = MetaData()

announcements = Table(
    "npuhub_announcements", metadata,
    Column("id", String(64), primary_key=True),
    Column("text_zh", Text, nullable=False),
    Column("text_en", Text, nullable=False),
    Column("starts", Float, nullable=False),
    Column("ends", Float, nullable=False),
    # NULL: everyone; else the course group it is for
    Column("group_name", String(255)),
    Column("author", String(255), nullable=False),
    Column("created", Float, nullable=False),
    Column("removed_at", Float),
    Column("removed_by", String(255)),
    Index("ix_npuhub_announcements_ends", "ends"),
)
