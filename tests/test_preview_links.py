"""`newsletter preview` writes files a person opens in a browser: no link holds a raw placeholder."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from newsletter.links import TOKEN_PLACEHOLDER
from newsletter.send.proofs import SAMPLE_TOKEN, sample_copy
from tests.conftest import PROJECT_ROOT, TEST_SECRET, seed_engine, skip_under_faked_clock, unavailable
from tests.seed_editions import NOW, render_seed_editions

# A %%...%% left in a link is a dead link in the preview (and would be one in any mail).
_PLACEHOLDER = re.compile(r"%%[A-Za-z0-9_]*%%")


def test_sample_copies_fill_every_personal_link_with_the_sample_token(tmp_path: Path) -> None:
    settings, editions = render_seed_editions(tmp_path)
    for code, edition in editions.items():
        assert TOKEN_PLACEHOLDER in edition.rendered.html  # the stored render keeps it for sending
        html, text = sample_copy(edition.rendered)
        for part in (html, text):
            assert not _PLACEHOLDER.search(part), code
            assert f"{settings.base_url}/p/{SAMPLE_TOKEN}" in part
            assert f"{settings.base_url}/u/{SAMPLE_TOKEN}" in part


def test_preview_command_writes_no_placeholder(
    sqlite_engine: sa.Engine, sqlite_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    skip_under_faked_clock(request)
    faketime = shutil.which("faketime")
    if faketime is None:
        unavailable("faketime not found (apt-get install faketime)")
        return
    seed_engine(sqlite_engine)
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "NEWSLETTER_SECRET_KEY": TEST_SECRET,
        "NEWSLETTER_DATABASE_URL": sqlite_url,
        "NEWSLETTER_BASE_URL": "https://news.example.com",
    }
    # The seed stories' own day (the clock faked to it), whatever today is.
    result = subprocess.run(
        [
            faketime,
            f"{NOW:%Y-%m-%d %H:%M:%S}",
            sys.executable,
            "-m",
            "newsletter",
            "preview",
            "riyadh",
            "--date",
            f"{NOW:%Y-%m-%d}",
            "--out",
            "out/riyadh.html",
        ],
        cwd=tmp_path,
        env={**env, "TZ": "UTC"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    for name in ("riyadh.html", "riyadh.txt"):
        written = (tmp_path / "out" / name).read_text(encoding="utf-8")
        assert not _PLACEHOLDER.search(written), name
        assert f"https://news.example.com/u/{SAMPLE_TOKEN}" in written
    assert SAMPLE_TOKEN in result.stdout  # the editor is told the personal links are samples
