"""The ledger loses its (edition_id, state) index, and leaves room on its pages for record's update.

Each claimed row paid four index inserts; (edition_id, state) was one, about a
seventh of the claim's server time on PostgreSQL. Its queries (status, release,
the last check of a send) read one edition once per command, and find its rows
by the unique (edition_id, subscriber_id) instead: O(edition), as the per-state
counts already were. With no index on ``state``, ``record``'s update of a row
touches no indexed column, so PostgreSQL can write the new version on the same
page without any index entry (a HOT update) when the page has room: a fill
factor of 40 keeps room for every row of a page to take its answer.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 19:00:00
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.drop_index("ix_delivery_edition_state", table_name="delivery")
    if _postgresql():
        # New pages only; rows already written keep their pages (a VACUUM FULL would repack them).
        op.execute("ALTER TABLE delivery SET (fillfactor = 40)")


def downgrade() -> None:
    if _postgresql():
        op.execute("ALTER TABLE delivery RESET (fillfactor)")
    op.create_index("ix_delivery_edition_state", "delivery", ["edition_id", "state"], unique=False)
