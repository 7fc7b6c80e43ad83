"""Lookups that several layers share, written once: regions in display order."""

from __future__ import annotations

from sqlmodel import Session, col, select

from newsletter.db.models import Region

__all__ = ["regions_in_order"]


def regions_in_order(session: Session) -> list[Region]:
    """Every region in display order (the header's region row): by position, then code."""
    return list(session.exec(select(Region).order_by(col(Region.position), col(Region.code))).all())
