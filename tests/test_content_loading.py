"""Loading the samples and imports: every file loads, re-seeding is a no-op, bad input is named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from sqlmodel import Session, SQLModel, select

from newsletter.content.files import read_content_dir, read_story_file
from newsletter.content.loading import load_content_dir
from newsletter.db.engine import session_scope
from newsletter.db.models import Ad, Region, Signal, Source, Story, Subscriber, Subscription
from newsletter.errors import ContentError, ContentErrors
from tests.conftest import PROJECT_ROOT, SEEDS, TEST_SECRET, run_cli, seed_engine

REGION_CODES = {"dc", "bxl", "lagos", "riyadh", "beijing", "sg"}


def table_snapshot(engine: sa.Engine) -> dict[str, list[tuple]]:
    """Every row of every table, for before/after comparisons."""
    snapshot = {}
    with engine.connect() as connection:
        for name, table in SQLModel.metadata.tables.items():
            rows = connection.execute(sa.select(table)).all()
            snapshot[name] = sorted(tuple(str(v) for v in row) for row in rows)
    return snapshot


def front_matter(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8").split("---")[1])


def test_seed_content_meets_the_editorial_brief() -> None:
    content = read_content_dir(SEEDS)
    assert {region.code for region in content.regions} == REGION_CODES
    for code in REGION_CODES:
        stories = [s for s in content.stories if code in s.regions]
        assert len(stories) >= 3, code
        assert len([ad for ad in content.ads if code in ad.regions]) >= 2, code
        assert len([s for s in content.subscribers if code in s.regions]) >= 5, code
    for story in content.stories:
        assert story.image and story.image.alt and story.image.credit, story.slug
        paragraphs = [p for p in story.body.split("\n\n") if p.strip()]
        assert 2 <= len(paragraphs) <= 4, story.slug
        assert len(story.signals) == 3, story.slug
        assert all(2 <= len(signal.sources) <= 4 for signal in story.signals), story.slug
    assert 50 <= len(content.subscribers) <= 70
    assert all(s.email.endswith(("@example.com", "@example.org")) for s in content.subscribers)
    assert any(len(s.regions) > 1 for s in content.subscribers)
    non_latin = [s for s in content.stories if any(ord(ch) > 0x0590 for ch in s.headline + s.body)]
    assert non_latin, "at least one story carries Arabic or Chinese text"


def test_every_seed_file_loads(engine: sa.Engine) -> None:
    seed_engine(engine)
    story_files = list((SEEDS / "stories").rglob("*.md"))
    with Session(engine) as session:
        assert {r.code for r in session.exec(select(Region)).all()} == REGION_CODES
        stories = session.exec(select(Story)).all()
        assert {s.slug for s in stories} == {front_matter(f)["slug"] for f in story_files}
        assert all(s.published_at.tzinfo is not None for s in stories)
        assert len(session.exec(select(Signal)).all()) == 3 * len(story_files)
        assert len(session.exec(select(Source)).all()) >= 6 * len(story_files)
        assert len(session.exec(select(Ad)).all()) == len(yaml.safe_load((SEEDS / "ads.yaml").read_text()))
        subscribers = yaml.safe_load((SEEDS / "subscribers.yaml").read_text())
        assert len(session.exec(select(Subscriber)).all()) == len(subscribers)
        assert len(session.exec(select(Subscription)).all()) == sum(len(s["regions"]) for s in subscribers)
        first = stories[0]
        signal = session.exec(select(Signal).where(Signal.story_id == first.id).order_by(Signal.position)).first()
        sources = session.exec(select(Source).where(Source.signal_id == signal.id).order_by(Source.position)).all()
        expected = front_matter(next(f for f in story_files if front_matter(f)["slug"] == first.slug))
        assert [s.name for s in sources] == [s["name"] for s in expected["signals"][0]["sources"]]


def test_reseeding_changes_nothing(engine: sa.Engine) -> None:
    seed_engine(engine)
    before = table_snapshot(engine)
    with session_scope(engine) as session:
        report = load_content_dir(session, SEEDS)
    assert report.changed == 0
    assert table_snapshot(engine) == before


def test_an_edited_story_is_updated_in_place(engine: sa.Engine, seeds_copy: Path) -> None:
    seed_engine(engine, seeds_copy)
    story_file = sorted((seeds_copy / "stories").rglob("*.md"))[0]
    _, front, body = story_file.read_text(encoding="utf-8").split("---\n", 2)
    fields = yaml.safe_load(front)
    fields["headline"] = "Corrected: " + fields["headline"]
    fields["signals"][0]["sources"].reverse()
    story_file.write_text("---\n" + yaml.safe_dump(fields, allow_unicode=True) + "---\n" + body, encoding="utf-8")
    with Session(engine) as session:
        story_id = session.exec(select(Story.id).where(Story.slug == fields["slug"])).one()

    with session_scope(engine) as session:
        report = load_content_dir(session, seeds_copy)

    assert report.counts["stories"]["updated"] == 1 and report.counts["stories"]["created"] == 0
    with Session(engine) as session:
        story = session.exec(select(Story).where(Story.slug == fields["slug"])).one()
        signal = session.exec(select(Signal).where(Signal.story_id == story.id).order_by(Signal.position)).first()
        names = session.exec(select(Source.name).where(Source.signal_id == signal.id).order_by(Source.position)).all()
    assert story.id == story_id
    assert story.headline.startswith("Corrected: ")
    assert names == [source["name"] for source in fields["signals"][0]["sources"]]


MALFORMED = {
    "bad YAML": (
        "stories/dc/broken.md",
        "---\nslug: dc-broken\nheadline: [unclosed\n---\nBody\n",
        ("(YAML line", "invalid YAML"),
    ),
    "missing headline": (
        "stories/dc/no-headline.md",
        "---\nslug: dc-no-headline\nregions: [dc]\ncanonical_url: https://news.example.com/x\n"
        "published_at: 2026-11-28T10:00:00Z\n---\nBody\n",
        ("field 'headline'", "required field is missing"),
    ),
    "unknown region": (
        "stories/dc/atlantis.md",
        "---\nslug: dc-atlantis\nheadline: Sunk\nregions: [dc, atlantis]\n"
        "canonical_url: https://news.example.com/x\npublished_at: 2026-11-28T10:00:00Z\n---\nBody\n",
        ("field 'regions[1]'", "unknown region", "'atlantis'"),
    ),
    "duplicate slug": (
        "stories/zz-duplicate.md",
        None,  # filled in from a real seed story
        ("field 'slug'", "duplicate story slug"),
    ),
    "date that does not parse": (
        "stories/dc/bad-date.md",
        "---\nslug: dc-bad-date\nheadline: When?\nregions: [dc]\ncanonical_url: https://news.example.com/x\n"
        "published_at: 'the 31st of Novembre'\n---\nBody\n",
        ("field 'published_at'", "not an ISO 8601", "'the 31st of Novembre'"),
    ),
}


@pytest.mark.parametrize("kind", MALFORMED)
def test_malformed_input_is_named_and_writes_nothing(engine: sa.Engine, seeds_copy: Path, kind: str) -> None:
    seed_engine(engine)
    (seeds_copy / "stories" / "dc" / "fresh-valid.md").write_text(
        "---\nslug: dc-fresh-valid\nheadline: A valid new story\nregions: [dc]\n"
        "canonical_url: https://news.example.com/dc/fresh\npublished_at: 2026-11-29T01:00:00Z\n---\nNew.\n",
        encoding="utf-8",
    )
    relative, text, expected = MALFORMED[kind]
    if text is None:
        text = sorted((seeds_copy / "stories").rglob("*.md"))[0].read_text(encoding="utf-8")
    (seeds_copy / relative).write_text(text, encoding="utf-8")
    before = table_snapshot(engine)

    with pytest.raises(ContentError) as caught, session_scope(engine) as session:
        load_content_dir(session, seeds_copy)

    message = str(caught.value)
    assert Path(relative).name in message
    for fragment in expected:
        assert fragment in message
    assert table_snapshot(engine) == before


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ({"email": "not-an-address", "regions": ["dc"]}, "field '[0].email': invalid email address"),
        ({"email": "x@example.com", "regions": ["mars"]}, "field '[0].regions[0]': unknown region"),
        ({"email": "x@example.com", "status": "vip"}, "field '[0].status'"),
        ({"email": "x@example.com", "colour": "red"}, "field '[0].colour': unknown field"),
    ],
)
def test_bad_subscriber_entries_are_named(seeds_copy: Path, entry: dict, fragment: str) -> None:
    (seeds_copy / "subscribers.yaml").write_text(yaml.safe_dump([entry]), encoding="utf-8")
    with pytest.raises(ContentError, match=r"subscribers\.yaml") as caught:
        read_content_dir(seeds_copy)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("published_at", "2026-11-28T10:00:00", "needs a time zone"),
        ("canonical_url", "javascript:alert(1)", r"absolute http\(s\) URL"),
        ("slug", "Not A Slug", "field 'slug'"),
    ],
)
def test_story_field_checks(tmp_path: Path, field: str, value: str, fragment: str) -> None:
    fields = {
        "slug": "dc-ok",
        "headline": "Fine",
        "regions": ["dc"],
        "canonical_url": "https://news.example.com/dc/ok",
        "published_at": "2026-11-28T10:00:00Z",
    }
    fields[field] = value
    path = tmp_path / "story.md"
    path.write_text("---\n" + yaml.safe_dump(fields) + "---\nBody\n", encoding="utf-8")
    with pytest.raises(ContentError, match=fragment):
        read_story_file(path)


def test_file_without_front_matter(tmp_path: Path) -> None:
    path = tmp_path / "plain.md"
    path.write_text("Just a paragraph.\n", encoding="utf-8")
    with pytest.raises(ContentError, match="front matter"):
        read_story_file(path)


def test_cli_seed_reports_error_and_exit_status(sqlite_url: str, seeds_copy: Path, tmp_path: Path) -> None:
    (seeds_copy / "stories" / "dc" / "broken.md").write_text("---\nslug: [\n---\n", encoding="utf-8")
    env = {"NEWSLETTER_SECRET_KEY": TEST_SECRET, "NEWSLETTER_DATABASE_URL": sqlite_url, "PATH": ""}
    command = [sys.executable, "-m", "newsletter", "seed", str(seeds_copy)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 1
    assert "broken.md" in result.stderr and "invalid YAML" in result.stderr
    assert "Traceback" not in result.stderr

    ok = subprocess.run(
        [sys.executable, "-m", "newsletter", "seed", str(SEEDS)],
        env=env,
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
    )
    assert ok.returncode == 0, ok.stderr
    assert "stories:" in ok.stdout and "created" in ok.stdout


PLACEHOLDER = "%%recipient_token%%"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("headline", f"Win {PLACEHOLDER}"),
        ("summary", "100%% sure"),
        ("byline", PLACEHOLDER),
        ("canonical_url", f"https://news.example.com/dc/ok?ref={PLACEHOLDER}"),
        ("image", {"url": f"https://img.example.com/p.gif?t={PLACEHOLDER}", "alt": "x"}),
        ("image", {"url": "https://img.example.com/p.gif", "alt": f"x{PLACEHOLDER}"}),
        (
            "signals",
            [
                {
                    "headline": "S",
                    "body": "B",
                    "sources": [{"name": "N", "url": f"https://src.example.com/?t={PLACEHOLDER}"}],
                }
            ],
        ),
    ],
)
def test_the_token_placeholder_is_refused_in_story_fields(tmp_path: Path, field: str, value: object) -> None:
    fields: dict[str, object] = {
        "slug": "dc-ok",
        "headline": "Fine",
        "regions": ["dc"],
        "canonical_url": "https://news.example.com/dc/ok",
        "published_at": "2026-11-28T10:00:00Z",
    }
    fields[field] = value
    path = tmp_path / "story.md"
    path.write_text("---\n" + yaml.safe_dump(fields) + "---\nBody\n", encoding="utf-8")
    with pytest.raises(ContentError, match="%%") as caught:
        read_story_file(path)
    assert "story.md" in str(caught.value) and f"field '{field}" in str(caught.value)


def test_the_token_placeholder_is_refused_in_a_story_body(tmp_path: Path) -> None:
    path = tmp_path / "story.md"
    path.write_text(
        "---\nslug: dc-ok\nheadline: Fine\nregions: [dc]\ncanonical_url: https://news.example.com/dc/ok\n"
        f"published_at: 2026-11-28T10:00:00Z\n---\n[read](https://x.example/?t={PLACEHOLDER})\n",
        encoding="utf-8",
    )
    with pytest.raises(ContentError, match="field 'body'"):
        read_story_file(path)


@pytest.mark.parametrize("field", ["image_url", "link", "headline", "body", "sponsor", "image_alt"])
def test_the_token_placeholder_is_refused_in_ads(seeds_copy: Path, field: str) -> None:
    ad = {
        "slug": "planted",
        "sponsor": "S",
        "headline": "H",
        "link": "https://sponsor.example/c",
        "image_url": "https://sponsor.example/i.png",
        "image_alt": "alt",
        "body": "Text",
        "regions": ["dc"],
        "starts_on": "2026-11-01",
    }
    ad[field] = (ad[field] + "?t=" if "url" in field or field == "link" else ad[field] + " ") + PLACEHOLDER
    (seeds_copy / "ads.yaml").write_text(yaml.safe_dump([ad]), encoding="utf-8")
    with pytest.raises(ContentError, match=r"ads\.yaml") as caught:
        read_content_dir(seeds_copy)
    assert f"field '[0].{field}'" in str(caught.value) and PLACEHOLDER in str(caught.value)


def test_the_token_placeholder_is_refused_in_regions(seeds_copy: Path) -> None:
    regions = yaml.safe_load((seeds_copy / "regions.yaml").read_text(encoding="utf-8"))
    regions[0]["edition_name"] = f"Wire {PLACEHOLDER}"
    (seeds_copy / "regions.yaml").write_text(yaml.safe_dump(regions), encoding="utf-8")
    with pytest.raises(ContentError, match=r"field '\[0\]\.edition_name'"):
        read_content_dir(seeds_copy)


@pytest.mark.parametrize("language", ["en\r\nX-Injected: 1", "en us", "en_US", "<b>", "-en", "en-", ""])
def test_a_story_language_must_be_a_simple_tag(tmp_path: Path, language: str) -> None:
    fields = {
        "slug": "dc-ok",
        "headline": "Fine",
        "regions": ["dc"],
        "language": language,
        "canonical_url": "https://news.example.com/dc/ok",
        "published_at": "2026-11-28T10:00:00Z",
    }
    path = tmp_path / "story.md"
    path.write_text("---\n" + yaml.safe_dump(fields) + "---\nBody\n", encoding="utf-8")
    with pytest.raises(ContentError, match="field 'language'"):
        read_story_file(path)


@pytest.mark.parametrize("language", ["en", "ar", "zh-Hans", "pt-BR", "sr-Latn-RS"])
def test_simple_language_tags_are_accepted(tmp_path: Path, language: str) -> None:
    fields = {
        "slug": "dc-ok",
        "headline": "Fine",
        "regions": ["dc"],
        "language": language,
        "canonical_url": "https://news.example.com/dc/ok",
        "published_at": "2026-11-28T10:00:00Z",
    }
    path = tmp_path / "story.md"
    path.write_text("---\n" + yaml.safe_dump(fields) + "---\nBody\n", encoding="utf-8")
    assert read_story_file(path).language == language


def test_a_region_language_must_be_a_simple_tag(seeds_copy: Path) -> None:
    regions = yaml.safe_load((seeds_copy / "regions.yaml").read_text(encoding="utf-8"))
    regions[0]["language"] = "en\nContent-Type: text/plain"
    (seeds_copy / "regions.yaml").write_text(yaml.safe_dump(regions), encoding="utf-8")
    with pytest.raises(ContentError, match=r"field '\[0\]\.language'"):
        read_content_dir(seeds_copy)


STORY_FIELDS = {
    "slug": "dc-ok",
    "headline": "Fine",
    "regions": ["dc"],
    "canonical_url": "https://news.example.com/dc/ok",
    "published_at": "2026-11-28T10:00:00Z",
}


def write_story(path: Path, fields: dict[str, object], body: str = "Body\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("---\n" + yaml.safe_dump(fields, allow_unicode=True) + "---\n" + body, encoding="utf-8")


def test_every_problem_in_a_story_file_is_reported(tmp_path: Path) -> None:
    fields = {
        **STORY_FIELDS,
        "canonical_url": "ftp://news.example.com/x",
        "priority": "high",
        "image": {"url": "https://img.example.com/p.jpg", "altt": "A platform"},
    }
    fields["headlin"] = fields.pop("headline")
    path = tmp_path / "story.md"
    write_story(path, fields)

    with pytest.raises(ContentErrors) as caught:
        read_story_file(path)

    problems = {error.field: error.problem for error in caught.value.errors}
    assert set(problems) == {"headlin", "headline", "canonical_url", "priority", "image.altt", "image.alt"}
    assert problems["headline"] == problems["image.alt"] == "required field is missing"
    assert problems["canonical_url"] == "must be an absolute http(s) URL"
    assert "valid integer" in problems["priority"]
    message = str(caught.value)
    assert "unknown field 'headlin' (did you mean 'headline'?)" in message
    assert "unknown field 'altt' (did you mean 'alt'?)" in message
    assert all(line.strip().startswith(str(path)) for line in message.splitlines()[1:])
    assert "'ftp://news.example.com/x'" in message and "'high'" in message


def test_a_misspelled_field_names_the_nearest_known_one_at_any_depth(tmp_path: Path) -> None:
    fields = {
        **STORY_FIELDS,
        "sumary": "S",
        "signals": [{"headline": "S", "body": "B", "sources": [{"nmae": "Ledger"}]}],
    }
    path = tmp_path / "story.md"
    write_story(path, fields)
    with pytest.raises(ContentErrors) as caught:
        read_story_file(path)
    message = str(caught.value)
    assert "field 'sumary': unknown field 'sumary' (did you mean 'summary'?)" in message
    assert "field 'signals.0.sources.0.nmae': unknown field 'nmae' (did you mean 'name'?)" in message
    assert "field 'signals.0.sources.0.name': required field is missing" in message


def test_a_field_nothing_like_a_known_one_lists_the_known_fields(tmp_path: Path) -> None:
    path = tmp_path / "story.md"
    write_story(path, {**STORY_FIELDS, "zzz": 1})
    with pytest.raises(ContentError, match=r"unknown field 'zzz' \(known fields: slug, headline, summary"):
        read_story_file(path)


def test_every_problem_in_every_file_is_reported_and_nothing_is_written(engine: sa.Engine, seeds_copy: Path) -> None:
    seed_engine(engine)
    write_story(
        seeds_copy / "stories" / "dc" / "zz-one.md", {**STORY_FIELDS, "slug": "dc-one", "regions": ["dc", "mars"]}
    )
    write_story(seeds_copy / "stories" / "dc" / "zz-two.md", {**STORY_FIELDS, "slug": "dc-two", "published_at": "soon"})
    (seeds_copy / "stories" / "dc" / "zz-three.md").write_text("---\nslug: [\n---\n", encoding="utf-8")
    ads = yaml.safe_load((seeds_copy / "ads.yaml").read_text(encoding="utf-8"))
    ads[0]["slot"] = 99
    ads[1]["sponsr"] = ads[1].pop("sponsor")
    (seeds_copy / "ads.yaml").write_text(yaml.safe_dump(ads, allow_unicode=True), encoding="utf-8")
    subscribers = yaml.safe_load((seeds_copy / "subscribers.yaml").read_text(encoding="utf-8"))
    subscribers[2]["email"] = subscribers[0]["email"]
    (seeds_copy / "subscribers.yaml").write_text(yaml.safe_dump(subscribers, allow_unicode=True), encoding="utf-8")
    before = table_snapshot(engine)

    with pytest.raises(ContentErrors) as caught, session_scope(engine) as session:
        load_content_dir(session, seeds_copy)

    where = {(Path(error.file).name, error.field) for error in caught.value.errors}
    assert where == {
        ("zz-one.md", "regions[1]"),
        ("zz-two.md", "published_at"),
        ("zz-three.md", "(YAML line 3)"),
        ("ads.yaml", "[0].slot"),
        ("ads.yaml", "[1].sponsr"),
        ("ads.yaml", "[1].sponsor"),
        ("subscribers.yaml", "[2].email"),
    }
    values = {error.field: error.value for error in caught.value.errors}
    assert values["regions[1]"] == "mars" and values["published_at"] == "soon" and values["[0].slot"] == 99
    assert values["[2].email"] == subscribers[0]["email"]
    assert "unknown field 'sponsr' (did you mean 'sponsor'?)" in str(caught.value)
    assert table_snapshot(engine) == before


def test_the_cli_prints_every_problem(sqlite_url: str, seeds_copy: Path, tmp_path: Path) -> None:
    one = {**STORY_FIELDS, "slug": "dc-one", "headlin": "x"}
    del one["headline"]
    write_story(seeds_copy / "stories" / "dc" / "zz-one.md", one)
    write_story(seeds_copy / "stories" / "bxl" / "zz-two.md", {**STORY_FIELDS, "slug": "dc-two", "regions": ["mars"]})
    result = run_cli(["seed", str(seeds_copy)], sqlite_url, tmp_path)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == "error: 3 problems in the content (nothing was loaded):"
    assert len(lines) == 4, result.stderr  # the heading, the unknown and the missing field, the region
    assert any("zz-one.md: field 'headlin': unknown field 'headlin' (did you mean 'headline'?)" in x for x in lines)
    assert any("zz-two.md: field 'regions[0]': unknown region" in line for line in lines)
    assert "Traceback" not in result.stderr


BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"]


@pytest.mark.parametrize("control", BIDI)
@pytest.mark.parametrize("field", ["headline", "summary"])
def test_bidi_controls_are_refused_in_story_fields_that_become_the_subject(
    tmp_path: Path, field: str, control: str
) -> None:
    path = tmp_path / "story.md"
    write_story(path, {**STORY_FIELDS, field: f"Invoice {control}fdp.exe"})
    with pytest.raises(ContentError) as caught:
        read_story_file(path)
    assert caught.value.field == field and f"U+{ord(control):04X}" in caught.value.problem
    assert "bidirectional control" in str(caught.value) and control not in str(caught.value)


@pytest.mark.parametrize("field", ["name", "short_label", "edition_name", "sender_name"])
def test_bidi_controls_are_refused_in_region_names(seeds_copy: Path, field: str) -> None:
    regions = yaml.safe_load((seeds_copy / "regions.yaml").read_text(encoding="utf-8"))
    regions[1][field] = "Wire \u202eeriw"
    (seeds_copy / "regions.yaml").write_text(yaml.safe_dump(regions, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ContentError, match=rf"field '\[1\]\.{field}': must not contain bidirectional control"):
        read_content_dir(seeds_copy)


def test_direction_marks_and_bidi_controls_in_bodies_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "story.md"
    # RLM/LRM/ALM do not reorder anything; a body may use isolates around foreign words.
    write_story(
        path,
        {**STORY_FIELDS, "headline": "\u0645\u0631\u062d\u0628\u0627 \u200fBBC\u200e \u061c"},
        body="\u0645\u0631\u062d\u0628\u0627 \u2067BBC\u2069\n",
    )
    story = read_story_file(path)
    assert "\u200f" in story.headline and "\u2067" in story.body
