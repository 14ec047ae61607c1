"""Who ended a request (the person, her teacher, staff, or the service itself), for the sentence she reads.

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
    with op.batch_alter_table("npuhub_requests") as batch:
        batch.add_column(sa.Column("ended_by", sa.String(255)))


def downgrade():
    with op.batch_alter_table("npuhub_requests") as batch:
        batch.drop_column("ended_by")
