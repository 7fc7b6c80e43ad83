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
    # Plain ADD COLUMN, never a batch table copy: on SQLite that copy drops and re-creates
    # ``ad``, and the drop cascades to ``ad_region`` (every ad would lose its regions).
    # So the columns keep their server defaults (every ad stored so far came from files,
    # where ads are published) and ``status`` has no CHECK here; the model's enum and the
    # content rules keep its values closed.
    op.add_column('ad', sa.Column('status', sa.String(length=24), nullable=False, server_default='published'))
    # SQLite adds a NOT NULL column only with a constant default: a placeholder, replaced
    # at once by the upgrade's own time.
    op.add_column('ad', sa.Column('modified_at', UTCDateTime(), nullable=False, server_default=sa.text("'2000-01-01 00:00:00'")))
    op.execute(sa.table('ad', sa.column('modified_at')).update().values(modified_at=sa.func.current_timestamp()))
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
    # Native DROP COLUMN (SQLite 3.35+), for the same reason as above.
    op.drop_column('ad', 'modified_at')
    op.drop_column('ad', 'status')
