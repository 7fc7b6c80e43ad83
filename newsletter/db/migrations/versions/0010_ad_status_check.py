"""The database refuses an ad status outside draft, published, retracted, as it does a story's.

0006 added ``ad.status`` as a plain string (a CHECK on SQLite needs a table copy, which
0006 avoided), so only the model and the content rules kept its values closed; a write
from anywhere else could store any word, and an ad with a status no rule knows is
neither placed nor listed by a filter. The CHECK is the one the model declares
(``storystatus_values``, the same as ``story.status``). An ad stored with another status
makes the upgrade fail on that constraint's name, in its one transaction: nothing is
changed until the ad is corrected.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 07:30:00
"""

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import op
from alembic.operations import BatchOperations

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_NAME = "storystatus_values"
_CHECK = "status IN ('draft', 'published', 'retracted')"
# The tables whose ad_id points at ads: ad_region's rows go with their ad (ON DELETE
# CASCADE), edition_item's forbid its delete.
_POINTING_AT_AD = ("ad_region", "edition_item")


@contextmanager
def _ad_table() -> Iterator[BatchOperations]:
    """Change the ad table; SQLite copies it to do it.

    The copy drops the old table, and with foreign keys on (they cannot be turned off
    inside the migration's transaction) that drop deletes every ad's regions and is
    refused while an edition lists an ad. So the rows pointing at ads are set aside and
    put back, ids and all, around the copy; the copy keeps every ad's id.
    """
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        for table in _POINTING_AT_AD:
            op.execute(f"CREATE TEMP TABLE {table}_set_aside AS SELECT * FROM {table} WHERE ad_id IS NOT NULL")
            op.execute(f"DELETE FROM {table} WHERE ad_id IS NOT NULL")
    with op.batch_alter_table("ad", schema=None) as batch_op:
        yield batch_op
    if sqlite:
        for table in _POINTING_AT_AD:
            op.execute(f"INSERT INTO {table} SELECT * FROM {table}_set_aside")
            op.execute(f"DROP TABLE {table}_set_aside")


def upgrade() -> None:
    with _ad_table() as batch_op:
        batch_op.create_check_constraint(_NAME, _CHECK)


def downgrade() -> None:
    with _ad_table() as batch_op:
        batch_op.drop_constraint(_NAME, type_="check")
