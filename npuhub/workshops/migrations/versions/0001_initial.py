"""The first workshop schema: codes and their guests.

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
        "npuhub_workshops",
        sa.Column("code", sa.String(16), primary_key=True),
        sa.Column("group_name", sa.String(255), nullable=False),
        sa.Column("flavor", sa.String(63)),
        sa.Column("starts_at", sa.DateTime, nullable=False),
        sa.Column("ends_at", sa.DateTime, nullable=False),
        sa.Column("max_guests", sa.Integer),
        sa.Column("guests", sa.Integer, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("revoked_at", sa.DateTime),
        sa.Column("revoked_by", sa.String(255)),
    )
    op.create_index("ix_npuhub_workshops_group_name", "npuhub_workshops", ["group_name"])
    op.create_table(
        "npuhub_workshop_guests",
        sa.Column("username", sa.String(255), primary_key=True),
        sa.Column("code", sa.String(16), sa.ForeignKey("npuhub_workshops.code"), nullable=False),
        sa.Column("display_name", sa.String(160), nullable=False),
        sa.Column("signed_in_at", sa.DateTime, nullable=False),
        sa.Column("removed_at", sa.DateTime),
    )
    op.create_index("ix_npuhub_workshop_guests_code", "npuhub_workshop_guests", ["code"])


def downgrade():
    op.drop_table("npuhub_workshop_guests")
    op.drop_table("npuhub_workshops")
