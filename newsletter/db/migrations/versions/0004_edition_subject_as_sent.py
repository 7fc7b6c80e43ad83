"""Edition subject and preheader: the text that went out, not the derived one.

Editions stored before this revision kept the derived subject and preheader in
these columns even when an editor had overridden them, so the archive listed a
subject that was never sent. The snapshot holds what was rendered (and sent):
copy it into the columns. Data only; the schema does not change.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 01:30:00
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

_edition = sa.table(
    'edition',
    sa.column('id', sa.Integer()),
    sa.column('subject', sa.String()),
    sa.column('preheader', sa.String()),
    sa.column('snapshot', sa.JSON()),
)


def upgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(_edition.c.id, _edition.c.subject, _edition.c.preheader, _edition.c.snapshot).where(
            _edition.c.snapshot.is_not(None)
        )
    ).all()
    for row in rows:
        snapshot: dict[str, Any] = row.snapshot or {}
        subject = str(snapshot.get('subject') or row.subject)
        preheader = str(snapshot.get('preheader') or row.preheader)
        if (subject, preheader) != (row.subject, row.preheader):
            connection.execute(
                sa.update(_edition).where(_edition.c.id == row.id).values(subject=subject, preheader=preheader)
            )


def downgrade() -> None:
    # The derived text is not recorded anywhere else; the sent one stays (it is what went out).
    pass
