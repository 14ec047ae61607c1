"""When a roster member's sign-in put her in the course group for the window, and when the clean-up took it back.

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
    with op.batch_alter_table("npuhub_workshop_roster") as batch:
        batch.add_column(sa.Column("granted_at", sa.DateTime))
        batch.add_column(sa.Column("ungranted_at", sa.DateTime))


def downgrade():
    with op.batch_alter_table("npuhub_workshop_roster") as batch:
        batch.drop_column("ungranted_at")
        batch.drop_column("granted_at")
