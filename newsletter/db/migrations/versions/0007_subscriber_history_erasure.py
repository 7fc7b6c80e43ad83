"""Subscriber status history, erased addresses, and the subscriber's name.

``status_change`` records every change of a subscriber's status with its cause
(form, import, webhook, operator); ``erased_address`` keeps only a hash of an
address whose personal data was deleted on request, so it is never mailed again.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 07:30:00
"""

from alembic import op
import sqlalchemy as sa

from newsletter.db.types import UTCDateTime

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

_STATUSES = ('pending', 'active', 'unsubscribed', 'bounced', 'complained')


def _status_type(name: str) -> sa.Enum:
    return sa.Enum(*_STATUSES, name=name, native_enum=False, create_constraint=True, length=24)


def upgrade() -> None:
    op.create_table('erased_address',
    sa.Column('address_hash', sa.String(length=64), nullable=False),
    sa.Column('erased_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('address_hash')
    )
    op.create_table('status_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('old_status', _status_type('old_status_values'), nullable=True),
    sa.Column('new_status', _status_type('subscriberstatus_values'), nullable=False),
    sa.Column('cause', sa.Enum('form', 'import', 'webhook', 'operator', name='statuscause_values', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('detail', sa.String(length=300), nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscriber.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('status_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_status_change_subscriber_id'), ['subscriber_id'], unique=False)
    with op.batch_alter_table('subscriber', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('erased_at', UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('subscriber', schema=None) as batch_op:
        batch_op.drop_column('erased_at')
        batch_op.drop_column('name')
    with op.batch_alter_table('status_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_status_change_subscriber_id'))
    op.drop_table('status_change')
    op.drop_table('erased_address')
