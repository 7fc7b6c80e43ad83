"""`newsletter serve`: the real command, a real uvicorn process, and a token-free access log."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

from newsletter.subscribers.tokens import manage_token
from tests.conftest import TEST_SECRET
from tests.web_helpers import add_regions, free_port


def _wait_for_health(url: str, process: subprocess.Popen[bytes]) -> httpx.Response:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited early"
        try:
            return httpx.get(url + "/health", timeout=1)
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the server never answered /health")


def test_serve_runs_the_app_and_keeps_tokens_out_of_the_log(sqlite_url: str, tmp_path: Path) -> None:
    engine = sa.create_engine(sqlite_url)
    add_regions(engine)
    engine.dispose()
    port = free_port()
    env = {
        **os.environ,
        "NEWSLETTER_SECRET_KEY": TEST_SECRET,
        "NEWSLETTER_DATABASE_URL": sqlite_url,
        "NEWSLETTER_OUTBOX_DIR": str(tmp_path / "outbox"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,  # a foreign folder: templates must not be found relative to cwd
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        assert _wait_for_health(url, process).json()["status"] == "ok"
        token = manage_token(TEST_SECRET.encode(), 424242, 1)
        assert httpx.get(f"{url}/p/{token}").status_code == 400  # unknown subscriber, same as forged
        assert httpx.get(url + "/").status_code == 200
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    log = output.decode()
    assert "GET /health" in log and "/p/[redacted]" in log
    assert token not in log


def test_uvicorn_factory_runs_several_workers_from_the_environment(sqlite_url: str, tmp_path: Path) -> None:
    """The Procfile's way: ``uvicorn --factory newsletter.web.app:create_app --workers 2``, settings from env."""
    engine = sa.create_engine(sqlite_url)
    add_regions(engine)
    engine.dispose()
    port = free_port()
    env = {
        **os.environ,
        "NEWSLETTER_SECRET_KEY": TEST_SECRET,
        "NEWSLETTER_DATABASE_URL": sqlite_url,
        "NEWSLETTER_OUTBOX_DIR": str(tmp_path / "outbox"),
    }
    command = [sys.executable, "-m", "uvicorn", "--factory", "newsletter.web.app:create_app", "--workers", "2"]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,  # a foreign folder: nothing is found relative to the repository
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        assert _wait_for_health(url, process).json() == {"status": "ok", "database": "ok"}
        page = httpx.get(url + "/")
        assert page.status_code == 200 and "subscribe" in page.text.lower()
        token = manage_token(TEST_SECRET.encode(), 424242, 1)
        for _ in range(4):  # spread over the workers; each one redacts its own access log
            assert httpx.get(f"{url}/p/{token}").status_code == 400
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    log = output.decode()
    assert process.returncode == 0, log
    workers = set(re.findall(r"Started server process \[(\d+)\]", log))
    assert len(workers) == 2, log
    assert "/p/[redacted]" in log and token not in log
