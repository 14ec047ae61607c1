"""The first admission schema: requests, ledger, accounts, reservations, fair-share usage, meta.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "npuhub_requests",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user", sa.String(255), nullable=False),
        sa.Column("server", sa.String(255), nullable=False, default=""),
        sa.Column("groups", sa.JSON, nullable=False),
        sa.Column("flavor", sa.String(63), nullable=False),
        sa.Column("model", sa.String(255)),
        sa.Column("share", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64)),
        sa.Column("arrived", sa.Float, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("charge_group", sa.String(255)),
        sa.Column("grant", sa.JSON),
        sa.Column("granted_at", sa.Float),
        sa.Column("ended_at", sa.Float),
        sa.Column("reservation", sa.String(64)),
        sa.Column("charged", sa.String(64), nullable=False, default="0"),
        sa.Column("metered_until", sa.Float),
        sa.Column("max_duration", sa.Float),
    )
    op.create_index("ix_npuhub_requests_state", "npuhub_requests", ["state"])
    op.create_index("ix_npuhub_requests_user", "npuhub_requests", ["user"])
    op.create_table(
        "npuhub_ledger",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", sa.String(64), nullable=False),
        sa.Column("before", sa.String(64), nullable=False),
        sa.Column("after", sa.String(64), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("request", sa.String(64)),
    )
    op.create_index("ix_npuhub_ledger_account", "npuhub_ledger", ["account"])
    op.create_table(
        "npuhub_accounts",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("balance", sa.String(64), nullable=False),
        sa.Column("period_end", sa.Float, nullable=False),
        sa.Column("rule", sa.JSON, nullable=False),
    )
    op.create_table(
        "npuhub_reservations",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("group", sa.String(255), nullable=False),
        sa.Column("flavor", sa.String(63), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("starts", sa.Float, nullable=False),
        sa.Column("ends", sa.Float, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("hold", sa.Float, nullable=False),
        sa.Column("ended", sa.Boolean, nullable=False, default=False),
    )
    op.create_table(
        "npuhub_usage",
        sa.Column("account", sa.String(255), primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_table(
        "npuhub_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(255), nullable=False),
    )


def downgrade():
    op.drop_table("npuhub_meta")
    op.drop_table("npuhub_usage")
    op.drop_table("npuhub_reservations")
    op.drop_table("npuhub_accounts")
    op.drop_table("npuhub_ledger")
    op.drop_table("npuhub_requests")
