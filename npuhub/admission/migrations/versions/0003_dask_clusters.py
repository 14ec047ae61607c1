"""Dask clusters as holders: their table, and the cluster a scheduler's or worker's request belongs to.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("npuhub_requests") as batch:
        batch.add_column(sa.Column("cluster", sa.String(64)))
    op.create_table(
        "npuhub_clusters",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("flavor", sa.String(63), nullable=False),
        sa.Column("groups", sa.JSON, nullable=False),
        sa.Column("server", sa.String(255)),
        sa.Column("wanted", sa.Integer, nullable=False),
        sa.Column("adaptive_min", sa.Integer),
        sa.Column("adaptive_max", sa.Integer),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64)),
        sa.Column("refusal", sa.JSON),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("last_activity", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("idle_timeout", sa.Float),
        sa.Column("ended_at", sa.Float),
        sa.Column("ended_by", sa.String(255)),
    )
    op.create_index("ix_npuhub_clusters_user", "npuhub_clusters", ["user"])
    op.create_index("ix_npuhub_clusters_state", "npuhub_clusters", ["state"])


def downgrade():
    op.drop_table("npuhub_clusters")
    with op.batch_alter_table("npuhub_requests") as batch:
        batch.drop_column("cluster")
