"""Every seed region's edition, assembled and rendered through the real service on SQLite."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from sqlmodel import select

from newsletter.config import Settings, load_settings
from newsletter.db.engine import make_engine, migrate, session_scope
from newsletter.db.models import Ad, AdRegion, Region
from newsletter.db.queries import regions_in_order
from newsletter.editions.lifecycle import prepare_edition
from newsletter.render.edition import RenderedEdition
from tests.conftest import TEST_SECRET, seed_engine

EDITION_DATE = date(2026, 11, 29)
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)  # after every seed story's publication


@dataclass(frozen=True)
class SeedEdition:
    region: Region
    rendered: RenderedEdition
    ads: list[Ad]


def seed_settings(database_url: str) -> Settings:
    return load_settings(
        secret_key=TEST_SECRET, database_url=database_url, base_url="https://news.example.com", _env_file=None
    )


def render_seed_editions(folder: Path) -> tuple[Settings, dict[str, SeedEdition]]:
    """Seed a fresh SQLite database in ``folder`` and prepare every region's edition."""
    url = f"sqlite:///{folder / 'seed-editions.db'}"
    engine = make_engine(url)
    try:
        migrate(engine)
        seed_engine(engine)
        settings = seed_settings(url)
        editions: dict[str, SeedEdition] = {}
        with session_scope(engine) as session:
            for region in regions_in_order(session):
                rendered = prepare_edition(session, settings, region.code, EDITION_DATE, now=NOW)
                ads = session.exec(
                    select(Ad).join(AdRegion).where(AdRegion.region_code == region.code).order_by(Ad.slot)
                ).all()
                editions[region.code] = SeedEdition(region, rendered, list(ads))
        return settings, editions
    finally:
        engine.dispose()
