"""A workshop's roster (university accounts), its materials (a git repository), its reservation and budget.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("npuhub_workshops") as batch:
        batch.add_column(sa.Column("materials_repo", sa.String(1000)))
        batch.add_column(sa.Column("materials_branch", sa.String(255)))
        batch.add_column(sa.Column("materials_path", sa.String(1000)))
        batch.add_column(sa.Column("reserved_count", sa.Integer))
        batch.add_column(sa.Column("reservation_id", sa.String(64)))
        batch.add_column(sa.Column("budget_hours", sa.String(64)))
    op.create_table(
        "npuhub_workshop_roster",
        sa.Column("code", sa.String(16), sa.ForeignKey("npuhub_workshops.code"), primary_key=True),
        sa.Column("username", sa.String(255), primary_key=True),
    )
    op.create_index("ix_npuhub_workshop_roster_username", "npuhub_workshop_roster", ["username"])


def downgrade():
    op.drop_index("ix_npuhub_workshop_roster_username", "npuhub_workshop_roster")
    op.drop_table("npuhub_workshop_roster")
    with op.batch_alter_table("npuhub_workshops") as batch:
        for name in ("budget_hours", "reservation_id", "reserved_count", "materials_path", "materials_branch",
                     "materials_repo"):
            batch.drop_column(name)
