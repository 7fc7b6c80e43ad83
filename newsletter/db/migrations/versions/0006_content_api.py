"""The content API: ad publish state and change time, API keys, the audit of writes.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 07:30:00
"""

from alembic import op
import sqlalchemy as sa

from newsletter.db.types import UTCDateTime, json_type

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('ad', schema=None) as batch_op:
        # Every ad stored so far was loaded from files, where ads are published.
        batch_op.add_column(sa.Column('status', sa.Enum('draft', 'published', 'retracted', name='storystatus_values', native_enum=False, create_constraint=True, length=24), nullable=False, server_default='published'))
        batch_op.add_column(sa.Column('modified_at', UTCDateTime(), nullable=False, server_default=sa.func.current_timestamp()))
    with op.batch_alter_table('ad', schema=None) as batch_op:
        batch_op.alter_column('status', server_default=None)
        batch_op.alter_column('modified_at', server_default=None)
    op.create_table('api_key',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('scopes', json_type(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('revoked_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key_hash'),
    sa.UniqueConstraint('name')
    )
    op.create_table('content_audit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.Column('key_name', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('slug', sa.String(length=120), nullable=False),
    sa.Column('changes', json_type(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('content_audit', schema=None) as batch_op:
        batch_op.create_index('ix_content_audit_kind_slug', ['kind', 'slug'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('content_audit', schema=None) as batch_op:
        batch_op.drop_index('ix_content_audit_kind_slug')
    op.drop_table('content_audit')
    op.drop_table('api_key')
    with op.batch_alter_table('ad', schema=None) as batch_op:
        batch_op.drop_column('modified_at')
        batch_op.drop_column('status')
