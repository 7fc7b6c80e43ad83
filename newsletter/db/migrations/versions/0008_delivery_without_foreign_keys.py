"""The ledger's rows check no foreign keys: the claim's cost per row halves on PostgreSQL.

Every ``delivery`` row the claim writes ran two referential checks on PostgreSQL
(a lookup and a row lock on ``edition`` and on ``subscriber``), about 45% of the
claim's server time. Nothing deletes an edition or a subscriber (erasure scrubs a
subscriber in place), and the claim takes its subscriber ids from the subscriber
table in the same statement, so the checks guarded nothing the code can do.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 12:00:00
"""

from collections.abc import Callable

from alembic import op
from alembic.operations import BatchOperations

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# SQLite's constraints have no names: the batch copy names them by this convention to drop them.
_NAMING = {"fk": "%(table_name)s_%(column_0_name)s_fkey"}


def _recreate_delivery(change: Callable[[BatchOperations], None]) -> None:
    """Apply ``change`` to the delivery table; SQLite copies the table to do it.

    The copy drops the old table, which SQLite refuses while events point at its rows
    (foreign keys are on, and cannot be turned off inside the migration's transaction):
    the events are set aside and put back, ids and all, around the copy.
    """
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("CREATE TEMP TABLE event_set_aside AS SELECT * FROM event")
        op.execute("DELETE FROM event")
    with op.batch_alter_table("delivery", schema=None, naming_convention=_NAMING) as batch_op:
        change(batch_op)
    if sqlite:
        op.execute("INSERT INTO event SELECT * FROM event_set_aside")
        op.execute("DROP TABLE event_set_aside")


def _drop(batch_op: BatchOperations) -> None:
    batch_op.drop_constraint("delivery_edition_id_fkey", type_="foreignkey")
    batch_op.drop_constraint("delivery_subscriber_id_fkey", type_="foreignkey")


def _add(batch_op: BatchOperations) -> None:
    batch_op.create_foreign_key("delivery_edition_id_fkey", "edition", ["edition_id"], ["id"])
    batch_op.create_foreign_key("delivery_subscriber_id_fkey", "subscriber", ["subscriber_id"], ["id"])


def upgrade() -> None:
    _recreate_delivery(_drop)


def downgrade() -> None:
    _recreate_delivery(_add)
