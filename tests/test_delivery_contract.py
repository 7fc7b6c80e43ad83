"""One contract, three backends: outbox (files), SMTP (a local server), SendGrid (a local stand-in).

Each test sends through the real backend and reads back what the real peer got.
"""

from __future__ import annotations

from newsletter.delivery.stamps import LEDGER_HEADER
from newsletter.links import TOKEN_PLACEHOLDER
from tests.delivery_harness import Harness, content, recipients


def test_every_recipient_gets_exactly_one_message_with_their_own_token(harness: Harness) -> None:
    batch = recipients(5)
    results = harness.backend.send_batch(content(), batch)

    assert [r.recipient for r in results] == batch  # one result per recipient, in order
    assert {r.outcome for r in results} == {harness.accepted}
    arrived = {m.to: m for m in harness.received()}
    assert sorted(arrived) == sorted(r.email for r in batch)
    assert len(harness.received()) == len(batch)
    for recipient in batch:
        message = arrived[recipient.email]
        assert f"https://news.example.com/p/{recipient.token}" in message.text
        assert f"https://news.example.com/u/{recipient.token}" in message.html
        assert TOKEN_PLACEHOLDER not in message.text + message.html
        others = [r.token for r in batch if r is not recipient]
        assert not any(token in message.text + message.html for token in others)


def test_every_message_carries_one_click_unsubscribe_and_its_ledger_id(harness: Harness) -> None:
    batch = recipients(3)
    harness.backend.send_batch(content(), batch)

    for recipient in batch:
        (message,) = [m for m in harness.received() if m.to == recipient.email]
        unsubscribe = message.headers["list-unsubscribe"]
        assert f"<https://news.example.com/u/{recipient.token}>" in unsubscribe
        assert f"<mailto:unsubscribe@news.example.com?subject=unsubscribe-{recipient.token}>" in unsubscribe
        assert message.headers["list-unsubscribe-post"] == "List-Unsubscribe=One-Click"
        assert message.headers[LEDGER_HEADER.lower()] == str(recipient.ledger_id)


def test_unicode_subject_and_body_arrive_intact(harness: Harness) -> None:
    (recipient,) = recipients(1)
    harness.backend.send_batch(content(), [recipient])

    (message,) = harness.received()
    assert message.subject == "Morgenausgabe: Brücken, Bahnen und Baustellen"
    assert "Grüße aus Brüssel ☕" in message.text
    assert "Grüße aus Brüssel ☕" in message.html


def test_an_empty_batch_sends_nothing(harness: Harness) -> None:
    assert harness.backend.send_batch(content(), []) == []
    assert harness.received() == []


def test_batches_after_the_first_reuse_the_backend(harness: Harness) -> None:
    first, second = recipients(2), recipients(2, start=3)
    results = harness.backend.send_batch(content(), first) + harness.backend.send_batch(content(), second)

    assert [r.outcome for r in results] == [harness.accepted] * 4
    assert sorted(m.to for m in harness.received()) == sorted(r.email for r in first + second)
    # The second batch rode on the first one's session instead of opening its own.
    assert harness.sessions() in (None, 1)
