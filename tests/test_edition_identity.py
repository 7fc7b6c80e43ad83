"""Each edition is recognisable in the inbox: its own From name, a subject within budget,
and a padded preheader so the snippet does not run into the header text."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email.policy import default as default_policy
from email.utils import parseaddr
from pathlib import Path

import pytest
import yaml

from newsletter.content.files import read_content_dir
from newsletter.db.engine import make_engine, migrate, session_scope
from newsletter.editions.assembly import SUBJECT_MAX, derive_subject
from newsletter.editions.lifecycle import prepare_edition
from newsletter.errors import ContentError
from newsletter.render.snapshot import StoryBlock
from newsletter.send.edition import message_content
from tests.conftest import seed_engine
from tests.delivery_harness import Harness, recipients
from tests.html_tree import parse
from tests.seed_editions import EDITION_DATE, NOW, SeedEdition, render_seed_editions, seed_settings


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SeedEdition]:
    return render_seed_editions(tmp_path_factory.mktemp("identity-seed"))[1]


def lead(headline: str) -> StoryBlock:
    return StoryBlock(
        slug="s",
        headline=headline,
        summary="",
        body="",
        byline="",
        canonical_url="https://x.example/s",
        image_url=None,
        image_alt="",
        image_credit="",
        language="en",
        updated_at=datetime(2026, 11, 29, tzinfo=UTC),
    )


def test_every_seed_edition_has_its_own_sender_name_by_default(seed: dict[str, SeedEdition]) -> None:
    names = {code: e.rendered.from_name for code, e in seed.items()}
    for code, edition in seed.items():
        assert names[code] == f"The Morning Wire {edition.region.name}"
    assert len(set(names.values())) == 6


@pytest.mark.parametrize(
    ("headline", "subject"),
    [
        ("Short and sweet", "Short and sweet"),
        (
            "Lagos State signs deals for solar mini-grids at 12 markets to curb generator use",
            "Lagos State signs deals for solar mini-grids at 12 markets…",
        ),
        # The limit falls right after a whole word: that word is kept.
        ("a" * 30 + " " + "b" * 28 + " tail words", "a" * 30 + " " + "b" * 28 + "…"),
        (
            "Trailing comma before the cut, then a long run of further words here",
            "Trailing comma before the cut, then a long run of further…",
        ),
        ("没有空格的标题" * 12, ("没有空格的标题" * 12)[:59] + "…"),
    ],
)
def test_subject_is_cut_at_a_word_within_budget(headline: str, subject: str) -> None:
    got = derive_subject(lead(headline))
    assert got == subject
    assert len(got) <= SUBJECT_MAX == 60


def test_seed_subjects_fit_the_budget(seed: dict[str, SeedEdition]) -> None:
    for edition in seed.values():
        assert len(edition.rendered.subject) <= 60, edition.rendered.subject


def test_preheader_is_followed_by_invisible_filler(seed: dict[str, SeedEdition]) -> None:
    for edition in seed.values():
        body = parse(edition.rendered.html).find_all("body")[0]
        hidden = body.children[0]
        text = hidden.text()  # type: ignore[union-attr]
        assert "display:none" in hidden.attrs["style"]  # type: ignore[union-attr]
        assert text.startswith(edition.rendered.preheader)
        filler = text[len(edition.rendered.preheader) :]
        assert len(filler) >= 200 and set(filler) <= {"\u034f", "\u200c", "\u00a0"}


def test_sender_name_from_regions_yaml(seeds_copy: Path, tmp_path: Path) -> None:
    regions_file = seeds_copy / "regions.yaml"
    regions = yaml.safe_load(regions_file.read_text(encoding="utf-8"))
    regions[0]["sender_name"] = "Morning Wire · D.C. desk"
    regions_file.write_text(yaml.safe_dump(regions, allow_unicode=True), encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = make_engine(url)
    migrate(engine)
    seed_engine(engine, seeds_copy)
    with session_scope(engine) as session:
        dc = prepare_edition(session, seed_settings(url), "dc", EDITION_DATE, now=NOW)
        bxl = prepare_edition(session, seed_settings(url), "bxl", EDITION_DATE, now=NOW)
    engine.dispose()
    assert dc.from_name == "Morning Wire · D.C. desk"
    assert bxl.from_name == "The Morning Wire Brussels"


def test_a_sender_name_with_a_line_break_is_refused(seeds_copy: Path) -> None:
    regions_file = seeds_copy / "regions.yaml"
    regions = yaml.safe_load(regions_file.read_text(encoding="utf-8"))
    regions[1]["sender_name"] = "Wire\nBcc: everyone@example.com"
    regions_file.write_text(yaml.safe_dump(regions), encoding="utf-8")
    with pytest.raises(ContentError, match=r"\[1\]\.sender_name"):
        read_content_dir(seeds_copy)


def test_the_from_header_names_the_edition_on_every_backend(
    harness: Harness, seed: dict[str, SeedEdition], request: pytest.FixtureRequest
) -> None:
    edition = seed["dc"]
    settings = seed_settings("sqlite://")
    content = message_content(settings, edition.rendered)
    harness.backend.send_batch(content, recipients(1))
    if harness.name == "sendgrid":
        accepted = request.getfixturevalue("sendgrid_standin").accepted
        assert accepted[0]["from"] == {"email": "editions@news.example.com", "name": "The Morning Wire Washington D.C."}
        return
    (delivered,) = harness.received()
    message = email.message_from_bytes(delivered.raw, policy=default_policy)
    assert parseaddr(str(message["From"])) == ("The Morning Wire Washington D.C.", "editions@news.example.com")
