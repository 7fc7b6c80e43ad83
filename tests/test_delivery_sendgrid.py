"""SendGrid: the pure payload builder, and every answer of the stand-in through the real client."""

from __future__ import annotations

import json
import logging
import socket
import urllib.request

import pytest
import python_http_client.client

from newsletter.delivery.base import Outcome, Recipient
from newsletter.delivery.sendgrid import SendGridBackend
from newsletter.delivery.sendgrid_payload import (
    MAX_SUBSTITUTION_BYTES_PER_REQUEST,
    plan_requests,
    serialize_request,
    substitution_bytes,
    to_sendgrid_request,
)
from newsletter.errors import AuthenticationError, ProviderLimitError, TransientDeliveryError
from newsletter.links import TOKEN_PLACEHOLDER
from newsletter.subscribers.tokens import manage_token
from tests.delivery_harness import content, recipients
from tests.peers.sendgrid import API_KEY, StandIn, problems

# -- the payload, with no network ------------------------------------------------------


def test_request_carries_content_once_and_one_personalization_per_recipient() -> None:
    batch = recipients(3)
    body = to_sendgrid_request(content(), batch)

    assert problems(body) == []
    assert body["content"] == [
        {"type": "text/plain", "value": content().text},
        {"type": "text/html", "value": content().html},
    ]
    assert json.dumps(body, ensure_ascii=False).count("Grüße aus Brüssel") == 2  # text and HTML, not per recipient
    assert [p["to"] for p in body["personalizations"]] == [[{"email": r.email}] for r in batch]
    first = body["personalizations"][0]
    assert first["substitutions"] == {TOKEN_PLACEHOLDER: batch[0].token}
    assert first["custom_args"] == {"delivery_id": "1001", "edition_id": "42", "region": "bxl"}
    assert first["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert batch[0].token in first["headers"]["List-Unsubscribe"]
    assert body["categories"] == ["bxl", "bxl-2026-11-29"]
    assert body["mail_settings"] == {"sandbox_mode": {"enable": False}}
    assert body["from"] == {"email": "editions@news.example.com", "name": "The Morning Wire"}


def test_sandbox_mode_is_a_setting_of_the_request() -> None:
    body = to_sendgrid_request(content(), recipients(1), sandbox=True)
    assert body["mail_settings"]["sandbox_mode"]["enable"] is True


def test_batches_split_at_a_thousand_recipients() -> None:
    short = [Recipient(f"r{n}@example.org", "t", ledger_id=n) for n in range(2500)]
    sizes = [len(chunk) for chunk in plan_requests(content(), short)]
    assert sizes == [1000, 1000, 500]


def test_batches_split_to_keep_substitutions_under_the_request_budget() -> None:
    # Real manage tokens: about 35 characters, 54 bytes with the tag, so 1000 exceed 50,000.
    batch = [Recipient(f"r{n}@example.org", manage_token(b"k" * 32, n, 1), n) for n in range(1000)]
    chunks = list(plan_requests(content(), batch))

    assert len(chunks) == 2
    assert sum(len(c) for c in chunks) == 1000
    for chunk in chunks:
        assert sum(substitution_bytes(r) for r in chunk) <= MAX_SUBSTITUTION_BYTES_PER_REQUEST
        assert problems(to_sendgrid_request(content(), chunk)) == []


def test_an_address_never_appears_twice_in_one_request() -> None:
    batch = [
        Recipient("Same@Example.org", "a", 1),
        Recipient("other@example.org", "b", 2),
        Recipient("same@example.org", "c", 3),
    ]
    chunks = list(plan_requests(content(), batch))
    assert [[r.ledger_id for r in chunk] for chunk in chunks] == [[1, 2], [3]]


def test_limits_no_schema_checks_are_refused_before_sending() -> None:
    with pytest.raises(ProviderLimitError, match="categories"):
        to_sendgrid_request(content(categories=tuple(f"c{n}" for n in range(12))), recipients(1))
    with pytest.raises(ProviderLimitError, match="subject"):
        to_sendgrid_request(content(subject="  "), recipients(1))
    with pytest.raises(ProviderLimitError, match="token"):
        to_sendgrid_request(content(), [Recipient("a@example.org", "x" * 10_000, 1)])
    with pytest.raises(ProviderLimitError, match="token"):  # not only the first recipient's is checked
        to_sendgrid_request(
            content(), [Recipient("a@example.org", "t", 1), Recipient("b@example.org", "x" * 10_000, 2)]
        )
    with pytest.raises(ValueError, match="at least one"):
        to_sendgrid_request(content(), [])


# -- answers, through the official client ------------------------------------------


def backend(standin: StandIn, **options: object) -> SendGridBackend:
    values: dict[str, object] = {"host": standin.host, "timeout": 5.0}
    values.update(options)
    return SendGridBackend(API_KEY, **values)  # type: ignore[arg-type]


def test_202_means_queued_with_the_provider_message_id(sendgrid_standin: StandIn) -> None:
    results = backend(sendgrid_standin).send_batch(content(), recipients(2))

    assert [r.outcome for r in results] == [Outcome.QUEUED, Outcome.QUEUED]
    assert {r.provider_message_id for r in results} == {"msg000001"}
    assert sendgrid_standin.answers == [202]


def test_sandbox_answers_200_and_is_still_only_queued(sendgrid_standin: StandIn) -> None:
    results = backend(sendgrid_standin, sandbox=True).send_batch(content(), recipients(1))
    assert sendgrid_standin.answers == [200]
    assert results[0].outcome is Outcome.QUEUED


@pytest.mark.parametrize(("answer", "words"), [("400", "invalid request"), ("413", "content too large")])
def test_a_refused_request_fails_its_recipients_with_the_provider_text(
    sendgrid_standin: StandIn, answer: str, words: str
) -> None:
    sendgrid_standin.script = [answer]
    results = backend(sendgrid_standin).send_batch(content(), recipients(2))

    assert [r.outcome for r in results] == [Outcome.FAILED, Outcome.FAILED]
    assert f"HTTP {answer}" in (results[0].error or "") and words in (results[0].error or "")


@pytest.mark.parametrize("answer", ["401", "403"])
def test_refused_credentials_raise_so_the_send_stops(sendgrid_standin: StandIn, answer: str) -> None:
    sendgrid_standin.script = [answer]
    with pytest.raises(AuthenticationError, match="SENDGRID_API_KEY"):
        backend(sendgrid_standin).send_batch(content(), recipients(1))


def test_a_wrong_key_is_refused_by_the_stand_in(sendgrid_standin: StandIn) -> None:
    wrong = SendGridBackend("SG.wrong", host=sendgrid_standin.host, timeout=5)
    with pytest.raises(AuthenticationError):
        wrong.send_batch(content(), recipients(1))


def test_429_is_transient_and_says_when_the_limit_resets(sendgrid_standin: StandIn) -> None:
    sendgrid_standin.script = ["429"]
    with pytest.raises(TransientDeliveryError) as caught:
        backend(sendgrid_standin).send_batch(content(), recipients(1))
    assert caught.value.status == 429
    assert caught.value.retry_after is not None and 0 < caught.value.retry_after <= 3


def test_500_is_transient(sendgrid_standin: StandIn) -> None:
    sendgrid_standin.script = ["500"]
    with pytest.raises(TransientDeliveryError, match="HTTP 500"):
        backend(sendgrid_standin).send_batch(content(), recipients(1))


@pytest.mark.parametrize("answer", ["hang", "drop"])
def test_no_answer_is_an_unknown_outcome_never_an_error_to_retry(sendgrid_standin: StandIn, answer: str) -> None:
    sendgrid_standin.script = [answer]
    results = backend(sendgrid_standin, timeout=0.5).send_batch(content(), recipients(2))

    assert [r.outcome for r in results] == [Outcome.UNKNOWN, Outcome.UNKNOWN]
    assert "may have been accepted" in (results[0].error or "")


def test_a_refused_connection_is_certainly_unsent() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    closed = SendGridBackend(API_KEY, host=f"http://127.0.0.1:{port}", timeout=2)
    with pytest.raises(TransientDeliveryError, match="could not connect"):
        closed.send_batch(content(), recipients(1))


def test_a_failure_after_the_first_request_defers_the_rest_instead_of_raising(sendgrid_standin: StandIn) -> None:
    many = [Recipient(f"r{n}@example.org", "t", ledger_id=n) for n in range(1500)]  # two requests
    sendgrid_standin.script = ["202", "429"]
    results = backend(sendgrid_standin).send_batch(content(), many)

    assert [r.outcome for r in results].count(Outcome.QUEUED) == 1000
    deferred = [r for r in results if r.outcome is Outcome.DEFERRED]
    assert len(deferred) == 500 and deferred[0].retry_after is not None


def test_an_unknown_request_leaves_later_requests_deferred(sendgrid_standin: StandIn) -> None:
    many = [Recipient(f"r{n}@example.org", "t", ledger_id=n) for n in range(2500)]  # three requests
    sendgrid_standin.script = ["202", "drop"]
    outcomes = [r.outcome for r in backend(sendgrid_standin).send_batch(content(), many)]
    assert outcomes == [Outcome.QUEUED] * 1000 + [Outcome.UNKNOWN] * 1000 + [Outcome.DEFERRED] * 500


def test_the_api_key_never_reaches_the_logs(sendgrid_standin: StandIn, caplog: pytest.LogCaptureFixture) -> None:
    sendgrid_standin.script = ["401"]
    sender = backend(sendgrid_standin)
    with caplog.at_level(logging.DEBUG), pytest.raises(AuthenticationError) as caught:
        sender.send_batch(content(), recipients(1))
    assert caplog.records, "the client should have logged at DEBUG"
    assert API_KEY not in caplog.text
    assert "tok0001" not in caplog.text  # nor the recipients' tokens
    assert API_KEY not in str(caught.value) + repr(sender)


# -- the serialized body, and how the official client posts it -----------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"edition_id": None, "region_code": None, "reply_to": "desk@news.example.com"},
        {"subject": 'Quote " and \\ and \u2028 and \x7f', "base_url": "https://news.example.com/{l}/{{t}}"},
        {
            "html": '<p>{e} "personalizations" \x00personalizations\x00 7340031999999999997</p>',
            "unsubscribe_mailto": "u\x00@x.org",
        },
    ],
)
def test_the_stand_in_receives_exactly_the_checkable_payload(
    sendgrid_standin: StandIn, overrides: dict[str, object]
) -> None:
    """What is posted is to_sendgrid_request's body, whatever odd text the content carries."""
    batch = [
        *recipients(3),
        Recipient('o"brien@exämple.org', "tök\\en", None),
        Recipient("ctl@example.org", "a\x01b", 7),
    ]
    results = backend(sendgrid_standin, sandbox=True).send_batch(content(**overrides), batch)

    assert [r.outcome for r in results] == [Outcome.QUEUED] * len(batch)
    (received,) = sendgrid_standin.accepted
    assert received == to_sendgrid_request(content(**overrides), batch, sandbox=True)
    text = serialize_request(received)
    # Byte for byte what stdlib json writes in its compact, UTF-8 form: only the speed differs.
    assert text == json.dumps(received, ensure_ascii=False, separators=(",", ":"))


def test_the_official_client_posts_the_serialized_body_as_utf8_json(
    sendgrid_standin: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    posted: list[urllib.request.Request] = []
    make_request = python_http_client.client.Client._make_request

    def spy(
        self: python_http_client.client.Client,
        opener: object,
        request: urllib.request.Request,
        timeout: float | None = None,
    ) -> object:
        posted.append(request)
        return make_request(self, opener, request, timeout=timeout)

    monkeypatch.setattr(python_http_client.client.Client, "_make_request", spy)
    batch = recipients(2)
    results = backend(sendgrid_standin).send_batch(content(), batch)

    assert [r.outcome for r in results] == [Outcome.QUEUED, Outcome.QUEUED]
    (request,) = posted
    assert request.get_header("Content-type") == "application/json; charset=utf-8"
    assert request.data == serialize_request(to_sendgrid_request(content(), batch)).encode("utf-8")
    assert "Grüße".encode() in request.data  # UTF-8, not \u escapes
    # The client formats the posted bytes into a DEBUG line on every request: only their size.
    assert str(request.data) == f"<{len(request.data)} bytes of JSON>"
    # The stand-in validated it (it answers 400 otherwise) and read the same body.
    assert sendgrid_standin.accepted == [to_sendgrid_request(content(), batch)]
