"""SMTP against a real server on 127.0.0.1: reuse, refusals, and connections that drop."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from newsletter.config import SmtpSecurity
from newsletter.delivery.base import Outcome
from newsletter.delivery.smtp import SmtpBackend
from newsletter.errors import TransientDeliveryError
from tests.delivery_harness import content, recipients
from tests.peers.smtp import SmtpStandIn


@pytest.fixture
def sender(smtp_standin: SmtpStandIn) -> Iterator[SmtpBackend]:
    backend = SmtpBackend("127.0.0.1", smtp_standin.port, security=SmtpSecurity.NONE, timeout=5)
    yield backend
    backend.close()


def test_one_connection_serves_several_batches(smtp_standin: SmtpStandIn, sender: SmtpBackend) -> None:
    sender.send_batch(content(), recipients(3))
    sender.send_batch(content(), recipients(3, start=4))
    sender.close()

    assert len(smtp_standin.messages) == 6
    assert smtp_standin.connections == 1


def test_the_envelope_and_message_are_real_rfc_5322(smtp_standin: SmtpStandIn, sender: SmtpBackend) -> None:
    sender.send_batch(content(), recipients(1))

    ((mail_from, rcpt_tos, _raw),) = smtp_standin.messages
    assert mail_from == "editions@news.example.com" and rcpt_tos == ["reader1@example.org"]
    (message,) = smtp_standin.parsed()
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]  # type: ignore[attr-defined]
    assert message["Date"] and message["Message-ID"]


def test_a_refused_recipient_fails_alone(smtp_standin: SmtpStandIn, sender: SmtpBackend) -> None:
    smtp_standin.refuse = {"reader2@example.org"}
    results = sender.send_batch(content(), recipients(3))

    assert [r.outcome for r in results] == [Outcome.SENT, Outcome.FAILED, Outcome.SENT]
    assert "550" in (results[1].error or "")
    assert len(smtp_standin.messages) == 2


def test_a_connection_dropped_before_data_is_reopened_and_nothing_is_lost(
    smtp_standin: SmtpStandIn, sender: SmtpBackend
) -> None:
    sender.send_batch(content(), recipients(1))
    smtp_standin.drop_at = {"MAIL": 1}  # the server hangs up on the next MAIL FROM
    results = sender.send_batch(content(), recipients(2, start=2))

    assert [r.outcome for r in results] == [Outcome.SENT, Outcome.SENT]
    assert sorted(rcpt[0] for _, rcpt, _ in smtp_standin.messages) == [f"reader{n}@example.org" for n in (1, 2, 3)]
    assert smtp_standin.connections == 2


def test_a_connection_dropped_during_data_is_unknown_and_never_resent(
    smtp_standin: SmtpStandIn, sender: SmtpBackend
) -> None:
    smtp_standin.drop_at = {"DATA": 1}  # the server keeps the message but never answers
    results = sender.send_batch(content(), recipients(3))

    assert [r.outcome for r in results] == [Outcome.UNKNOWN, Outcome.DEFERRED, Outcome.DEFERRED]
    assert len(smtp_standin.messages) == 1  # the one that arrived was not sent twice


def test_no_server_is_a_transient_failure_with_nothing_sent() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TransientDeliveryError, match="could not connect"):
        SmtpBackend("127.0.0.1", port, timeout=2).send_batch(content(), recipients(1))


def test_a_recipient_put_off_at_rcpt_is_deferred_alone_and_the_rest_go_out(
    smtp_standin: SmtpStandIn, sender: SmtpBackend
) -> None:
    smtp_standin.defer = {"reader2@example.org": "452 4.2.2 mailbox full, try later"}
    results = sender.send_batch(content(), recipients(4))

    assert [r.outcome for r in results] == [Outcome.SENT, Outcome.DEFERRED, Outcome.SENT, Outcome.SENT]
    assert results[1].recipient_only and "452 4.2.2 mailbox full" in (results[1].error or "")
    assert sorted(rcpt[0] for _, rcpt, _ in smtp_standin.messages) == [f"reader{n}@example.org" for n in (1, 3, 4)]


def test_a_421_at_rcpt_still_puts_off_the_rest_of_the_batch(smtp_standin: SmtpStandIn, sender: SmtpBackend) -> None:
    smtp_standin.defer = {"reader2@example.org": "421 4.3.2 service shutting down"}
    results = sender.send_batch(content(), recipients(3))

    assert [r.outcome for r in results] == [Outcome.SENT, Outcome.DEFERRED, Outcome.DEFERRED]
    assert not any(r.recipient_only for r in results)


def test_a_server_hanging_up_on_rset_after_a_refusal_keeps_the_refusal(
    smtp_standin: SmtpStandIn, sender: SmtpBackend
) -> None:
    """RCPT refused (550), then the server drops the connection on our RSET: that recipient
    failed for certain and is not asked again; the others go out on a new connection."""
    smtp_standin.refuse = {"reader2@example.org"}
    smtp_standin.drop_at = {"RSET": 1}
    results = sender.send_batch(content(), recipients(3))

    assert [r.outcome for r in results] == [Outcome.SENT, Outcome.FAILED, Outcome.SENT]
    assert smtp_standin.rcpt_asked.count("reader2@example.org") == 1
    assert smtp_standin.connections == 2


def test_a_message_refused_after_data_fails_alone(smtp_standin: SmtpStandIn, sender: SmtpBackend) -> None:
    smtp_standin.refuse_data = {"reader2@example.org"}
    results = sender.send_batch(content(), recipients(3))

    assert [r.outcome for r in results] == [Outcome.SENT, Outcome.FAILED, Outcome.SENT]
    assert "554" in (results[1].error or "")
