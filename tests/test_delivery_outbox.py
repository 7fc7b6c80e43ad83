"""The outbox backend when the disk says no: only messages whose file exists count as sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.delivery.base import Outcome
from newsletter.delivery.outbox import OutboxBackend
from newsletter.errors import TransientDeliveryError
from tests.delivery_harness import content, recipients


def test_a_failed_write_defers_that_message_and_the_rest_and_keeps_what_was_written(tmp_path: Path) -> None:
    backend = OutboxBackend(tmp_path)
    batch = recipients(3)
    campaign = tmp_path / content().campaign
    # A directory where the second message's file must go: its rename fails with an OSError,
    # as a full disk or a read-only folder would.
    (campaign / OutboxBackend(tmp_path)._file_name(batch[1])).mkdir(parents=True)

    results = backend.send_batch(content(), batch)

    assert [r.outcome for r in results] == [Outcome.SENT, Outcome.DEFERRED, Outcome.DEFERRED]
    assert "outbox write failed" in (results[1].error or "")
    assert sorted(p.name for p in campaign.glob("*.eml") if p.is_file()) == [
        OutboxBackend(tmp_path)._file_name(batch[0])
    ]
    assert not list(campaign.glob("*.partial"))


def test_a_write_failing_on_the_first_message_is_a_retryable_error(tmp_path: Path) -> None:
    backend = OutboxBackend(tmp_path)
    batch = recipients(2)
    (tmp_path / content().campaign / backend._file_name(batch[0])).mkdir(parents=True)

    with pytest.raises(TransientDeliveryError, match="outbox write failed"):
        backend.send_batch(content(), batch)
