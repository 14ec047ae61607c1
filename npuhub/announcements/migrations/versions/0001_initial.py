"""The announcements table.

Revision ID: a0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "a0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "npuhub_announcements",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("text_zh", sa.Text, nullable=False),
        sa.Column("text_en", sa.Text, nullable=False),
        sa.Column("starts", sa.Float, nullable=False),
        sa.Column("ends", sa.Float, nullable=False),
        sa.Column("group_name", sa.String(255)),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("removed_at", sa.Float),
        sa.Column("removed_by", sa.String(255)),
    )
    op.create_index("ix_npuhub_announcements_ends", "npuhub_announcements", ["ends"])


def downgrade():
    op.drop_index("ix_npuhub_announcements_ends", "npuhub_announcements")
    op.drop_table("npuhub_announcements")
