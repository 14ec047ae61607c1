"""The admission's tables (SQLAlchemy). Fractions are stored as exact text ("1/4", "1800")."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Float, Index, Integer, MetaData, String, Table, Text

__all__ = ["metadata", "requests", "ledger", "accounts", "reservations", "usage", "meta", "clusters"]

metadata = MetaData()

requests = Table(
    "npuhub_requests", metadata,
    Column("id", String(64), primary_key=True),
    Column("user", String(255), nullable=False),
    Column("server", String(255), nullable=False, default=""),
    Column("groups", JSON, nullable=False),
    Column("flavor", String(63), nullable=False),
    Column("model", String(255)),
    Column("share", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", String(64)),
    Column("arrived", Float, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("charge_group", String(255)),
    Column("grant", JSON),
    Column("granted_at", Float),
    Column("ended_at", Float),
    Column("ended_by", String(255)),
    Column("reservation", String(64)),
    Column("charged", String(64), nullable=False, default="0"),
    Column("metered_until", Float),
    # No longer read or written (no flavor can set a maximum session length yet); kept so that
    # existing databases need no migration.
    Column("max_duration", Float),
    # the Dask cluster a scheduler's or worker's request belongs to (None: a notebook server's)
    Column("cluster", String(64)),
    Index("ix_npuhub_requests_state", "state"),
    Index("ix_npuhub_requests_user", "user"),
)

ledger = Table(
    "npuhub_ledger", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(255), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("amount", String(64), nullable=False),
    Column("before", String(64), nullable=False),
    Column("after", String(64), nullable=False),
    Column("at", Float, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("reason", Text, nullable=False),
    Column("request", String(64)),
    Index("ix_npuhub_ledger_account", "account"),
)

accounts = Table(
    "npuhub_accounts", metadata,
    Column("name", String(255), primary_key=True),
    Column("balance", String(64), nullable=False),
    Column("period_end", Float, nullable=False),
    Column("rule", JSON, nullable=False),
)

reservations = Table(
    "npuhub_reservations", metadata,
    Column("id", String(64), primary_key=True),
    Column("group", String(255), nullable=False),
    Column("flavor", String(63), nullable=False),
    Column("count", Integer, nullable=False),
    Column("starts", Float, nullable=False),
    Column("ends", Float, nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("hold", Float, nullable=False),
    Column("ended", Boolean, nullable=False, default=False),
)

usage = Table(
    "npuhub_usage", metadata,
    Column("account", String(255), primary_key=True),
    Column("value", Float, nullable=False),
    Column("at", Float, nullable=False),
)

meta = Table(
    "npuhub_meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(255), nullable=False),
)

clusters = Table(
    "npuhub_clusters", metadata,
    Column("id", String(64), primary_key=True),
    Column("user", String(255), nullable=False),
    Column("name", String(255), nullable=False),
    Column("flavor", String(63), nullable=False),
    Column("groups", JSON, nullable=False),
    # the notebook server it was made from (its stop closes it); NULL: made from outside any server
    Column("server", String(255)),
    Column("wanted", Integer, nullable=False),
    Column("adaptive_min", Integer),
    Column("adaptive_max", Integer),
    Column("state", String(16), nullable=False),
    Column("reason", String(64)),
    Column("refusal", JSON),
    Column("created", Float, nullable=False),
    Column("last_activity", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("idle_timeout", Float),
    Column("ended_at", Float),
    Column("ended_by", String(255)),
    Index("ix_npuhub_clusters_user", "user"),
    Index("ix_npuhub_clusters_state", "state"),
)
