"""Per-region sender display name and an ad's call to action.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 23:55:00

Both are optional: a region without ``sender_name`` sends as "<publication> <region
name>", an ad without ``cta`` shows "Learn more".
"""

from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('region') as batch:
        batch.add_column(sa.Column('sender_name', sa.String(length=120), nullable=True))
    with op.batch_alter_table('ad') as batch:
        batch.add_column(sa.Column('cta', sa.String(length=60), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('ad') as batch:
        batch.drop_column('cta')
    with op.batch_alter_table('region') as batch:
        batch.drop_column('sender_name')
