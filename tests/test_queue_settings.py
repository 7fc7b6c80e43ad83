"""NEWSLETTER_QUEUE_URL: what it accepts, what it refuses (never echoing a password), and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.errors import ConfigurationError
from tests.conftest import make_settings, run_cli
from tests.queue_harness import free_port


@pytest.mark.parametrize(
    "url",
    ["", "redis://127.0.0.1:6379/0", "rediss://:s3cr3tpw@cache.example.com:6380/1", "amqp://guest:guest@mq:5672//"],
)
def test_broker_urls_of_both_kinds_are_accepted(tmp_path: Path, url: str) -> None:
    settings = make_settings("sqlite://", tmp_path, queue_url=url)
    assert settings.queue_url.get_secret_value() == url
    assert "s3cr3tpw" not in repr(settings)


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("postgresql://app:hunter2@db/newsletter", "postgresql"),
        ("localhost:6379", "none"),
        ("redis://", "redis"),
        ("http://user:hunter2@mq.example.com", "http"),
    ],
)
def test_other_urls_are_refused_naming_the_variable_not_the_password(tmp_path: Path, url: str, scheme: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        make_settings("sqlite://", tmp_path, queue_url=url)
    message = str(refused.value)
    assert "NEWSLETTER_QUEUE_URL" in message and f"got scheme {scheme!r}" in message
    assert "hunter2" not in message


def test_a_worker_without_a_queue_says_what_to_set(sqlite_url: str, tmp_path: Path) -> None:
    result = run_cli(["worker"], sqlite_url, tmp_path, NEWSLETTER_QUEUE_URL="")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: NEWSLETTER_QUEUE_URL is not set: sends run in-process and no worker is needed"
    ]


# Queued and left, or queued to be followed: then Redis is the result store as well, reached first.
@pytest.mark.parametrize("flags", [[], ["--no-wait"]], ids=["followed", "no-wait"])
def test_a_send_to_an_unreachable_broker_is_one_clear_line_and_queues_nothing(
    sqlite_url: str, tmp_path: Path, flags: list[str]
) -> None:
    run_cli(["seed"], sqlite_url, tmp_path)
    nobody = f"redis://127.0.0.1:{free_port()}/0"
    result = run_cli(["send", "dc", "--yes", *flags], sqlite_url, tmp_path, NEWSLETTER_QUEUE_URL=nobody)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the task queue (NEWSLETTER_QUEUE_URL) cannot be reached")
