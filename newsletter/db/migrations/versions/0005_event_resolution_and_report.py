"""Unknown outcomes resolved by provider events; the event fields the report reads.

``delivery.resolved_at`` records when a provider event moved a claimed or unknown
row to queued. ``event.url`` (a click's link) and ``event.bounce_type`` (hard
"bounce" or soft "blocked") are copied out of the stored raw payload so the
report can group by them with plain SQL on both databases; existing events are
filled in from their payloads.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 07:40:00
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_event = sa.table(
    'event',
    sa.column('id', sa.Integer()),
    sa.column('raw_type', sa.String()),
    sa.column('payload', sa.JSON()),
    sa.column('url', sa.Text()),
    sa.column('bounce_type', sa.String()),
)


def upgrade() -> None:
    with op.batch_alter_table('delivery') as batch:
        batch.add_column(sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('event') as batch:
        batch.add_column(sa.Column('url', sa.Text(), nullable=True))
        batch.add_column(sa.Column('bounce_type', sa.String(length=32), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(_event.c.id, _event.c.raw_type, _event.c.payload).where(_event.c.raw_type.in_(['click', 'bounce']))
    )
    for row in rows.all():
        payload: dict[str, Any] = row.payload if isinstance(row.payload, dict) else {}
        value = payload.get('url' if row.raw_type == 'click' else 'type')
        if isinstance(value, str) and value:
            column = 'url' if row.raw_type == 'click' else 'bounce_type'
            text = value if column == 'url' else value[:32].lower()
            connection.execute(sa.update(_event).where(_event.c.id == row.id).values({column: text}))


def downgrade() -> None:
    with op.batch_alter_table('event') as batch:
        batch.drop_column('bounce_type')
        batch.drop_column('url')
    with op.batch_alter_table('delivery') as batch:
        batch.drop_column('resolved_at')
