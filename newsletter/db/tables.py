"""The Core table behind a SQLModel class, typed (for SQL written with ``sqlalchemy`` directly)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel

__all__ = ["table_of"]


def table_of(model: type[SQLModel]) -> sa.Table:
    """``model.__table__``, which SQLModel sets when the class is made but its stubs do not declare."""
    table = sa.inspect(model).local_table
    assert isinstance(table, sa.Table)  # a table model, never a plain (non-table) SQLModel
    return table
