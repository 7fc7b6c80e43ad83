"""SendGrid Event Webhook over HTTP: signature, dedup, suppression, joins, unknown input, size."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.config import Settings
from newsletter.db.models import Delivery, Edition, Event, EventType, Subscriber
from newsletter.events.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER
from tests.web_helpers import TestClient, WebhookKey, active_subscriber, signed_post, subscriber_state


def event(kind: str, address: str, event_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "email": address,
        "timestamp": 1764396000,
        "event": kind,
        "sg_event_id": event_id,
        "sg_message_id": "msg.filter0001",
        **extra,
    }


def stored_events(engine: sa.Engine) -> list[Event]:
    with Session(engine) as session:
        return list(session.exec(select(Event).order_by(Event.id)))


def delivery_for(engine: sa.Engine, address: str) -> int:
    """A ledger row for this subscriber, as dispatch would have written it."""
    with Session(engine) as session:
        subscriber = session.exec(select(Subscriber).where(Subscriber.email == address)).one()
        edition = session.exec(select(Edition).where(Edition.region_code == "dc")).first()
        if edition is None:
            edition = Edition(region_code="dc", local_date=date(2026, 11, 29))
            session.add(edition)
            session.flush()
        delivery = Delivery(edition_id=edition.id, subscriber_id=subscriber.id)
        session.add(delivery)
        session.commit()
        assert delivery.id is not None
        return delivery.id


def test_signed_batch_is_stored_with_its_raw_event(
    client: TestClient, webhook_key: WebhookKey, web_engine: sa.Engine, web_settings: Settings
) -> None:
    active_subscriber(web_engine, web_settings, "open@example.com", ["dc"])
    delivery_id = delivery_for(web_engine, "open@example.com")
    answer = signed_post(
        client,
        webhook_key,
        [
            event("delivered", "open@example.com", "ev-1", delivery_id=str(delivery_id), region="dc"),
            event("open", "open@example.com", "ev-2", delivery_id=str(delivery_id), useragent="Mail/1.0"),
        ],
    )
    assert answer.status_code == 204
    delivered, opened = stored_events(web_engine)
    assert (delivered.event_type, delivered.provider_event_id, delivered.delivery_id) == (
        EventType.DELIVERED,
        "ev-1",
        delivery_id,
    )
    assert opened.payload["useragent"] == "Mail/1.0" and opened.subscriber_id == delivered.subscriber_id
    assert opened.occurred_at.timestamp() == 1764396000
    # Opens and deliveries never stop sending.
    assert subscriber_state(web_engine, "open@example.com")[0] == "active"


@pytest.mark.parametrize(
    ("events", "status"),
    [
        ([event("bounce", "s@example.com", "b1", type="bounce", reason="550 5.1.1 no such user")], "bounced"),
        ([event("dropped", "s@example.com", "d1", reason="Bounced Address")], "bounced"),
        ([event("dropped", "s@example.com", "d2", reason="Invalid")], "bounced"),
        ([event("dropped", "s@example.com", "d3", reason="Spam Reporting Address")], "complained"),
        ([event("spamreport", "s@example.com", "c1")], "complained"),
        ([event("unsubscribe", "s@example.com", "u1")], "unsubscribed"),
        ([event("group_unsubscribe", "s@example.com", "g1", asm_group_id=7)], "unsubscribed"),
        # Not the address's fault: keep sending.
        ([event("bounce", "s@example.com", "b2", type="blocked", reason="IP reputation")], "active"),
        ([event("dropped", "s@example.com", "d4", reason="Invalid SMTPAPI header")], "active"),
        ([event("deferred", "s@example.com", "f1", response="421 try later", attempt="1")], "active"),
        ([event("click", "s@example.com", "k1", url="https://news.example.com/")], "active"),
        # A complaint outranks an earlier unsubscribe, and a later unsubscribe does not soften it.
        (
            [
                event("unsubscribe", "s@example.com", "u2"),
                event("spamreport", "s@example.com", "c2"),
                event("unsubscribe", "s@example.com", "u3"),
            ],
            "complained",
        ),
    ],
)
def test_events_that_suppress_the_subscriber(
    client: TestClient,
    webhook_key: WebhookKey,
    web_engine: sa.Engine,
    web_settings: Settings,
    events: list[dict[str, Any]],
    status: str,
) -> None:
    active_subscriber(web_engine, web_settings, "s@example.com", ["dc", "bxl"])
    delivery_id = delivery_for(web_engine, "s@example.com")
    for item in events:
        item["delivery_id"] = delivery_id
    assert signed_post(client, webhook_key, events).status_code == 204
    assert subscriber_state(web_engine, "s@example.com")[0] == status


def test_replayed_batch_is_harmless(client: TestClient, webhook_key: WebhookKey, web_engine: sa.Engine) -> None:
    batch = [
        event("delivered", "r@example.com", "dup-1"),
        event("delivered", "r@example.com", "dup-2"),
        event("delivered", "r@example.com", "dup-1"),
    ]  # the same event twice in one batch, too
    assert signed_post(client, webhook_key, batch).status_code == 204
    assert signed_post(client, webhook_key, batch).status_code == 204
    assert sorted(e.provider_event_id or "" for e in stored_events(web_engine)) == ["dup-1", "dup-2"]


def test_wrong_key_missing_signature_and_tampered_body_are_refused(
    client: TestClient, webhook_key: WebhookKey, web_engine: sa.Engine, web_settings: Settings
) -> None:
    active_subscriber(web_engine, web_settings, "target@example.com", ["dc"])
    body = json.dumps([event("spamreport", "target@example.com", "forged-1")]).encode()
    impostor = WebhookKey()  # a real key pair, just not the configured one
    tampered_headers = webhook_key.headers(b"[]")
    attempts = [
        impostor.headers(body),
        {"Content-Type": "application/json"},
        {**webhook_key.headers(body), TIMESTAMP_HEADER: "1764396001"},  # signature over another timestamp
        tampered_headers,  # a valid signature of a different body
        {**webhook_key.headers(body), SIGNATURE_HEADER: "not base64!"},
        {**webhook_key.headers(body), SIGNATURE_HEADER: ""},
    ]
    for headers in attempts:
        answer = client.post("/webhooks/sendgrid", content=body, headers=headers)
        assert answer.status_code == 403, headers
    assert stored_events(web_engine) == []
    assert subscriber_state(web_engine, "target@example.com")[0] == "active"


def test_exact_raw_bytes_are_verified(client: TestClient, webhook_key: WebhookKey, web_engine: sa.Engine) -> None:
    # Odd spacing and key order, as another JSON encoder would write: verification
    # must use the bytes as received, not a re-serialisation.
    body = b'[ {"sg_event_id":"raw-1",  "event":"processed","email":"x@example.com","timestamp":1764396000} ]'
    answer = client.post("/webhooks/sendgrid", content=body, headers=webhook_key.headers(body))
    assert answer.status_code == 204
    assert [e.event_type for e in stored_events(web_engine)] == [EventType.PROCESSED]


def test_unknown_and_malformed_events_are_stored_not_fatal(
    client: TestClient, webhook_key: WebhookKey, web_engine: sa.Engine
) -> None:
    batch: list[Any] = [
        event("machine_opened", "u@example.com", "new-kind"),
        {"event": 42, "timestamp": "yesterday", "delivery_id": "abc", "email": ["not", "text"]},
        "not even an object",
        event("delivered", "u@example.com", "nul-1", reason="has a \x00 NUL"),
        event("open", "u@example.com", "far-future", timestamp=10**20),
    ]
    assert signed_post(client, webhook_key, batch).status_code == 204
    stored = stored_events(web_engine)
    assert [e.event_type for e in stored] == [
        EventType.UNKNOWN,
        EventType.UNKNOWN,
        EventType.UNKNOWN,
        EventType.DELIVERED,
        EventType.OPEN,
    ]
    assert stored[0].raw_type == "machine_opened"
    assert stored[2].payload == {"unparsed": "not even an object"}
    assert "\x00" not in stored[3].reason


def test_event_joins_on_delivery_id_before_email(
    client: TestClient, webhook_key: WebhookKey, web_engine: sa.Engine, web_settings: Settings
) -> None:
    active_subscriber(web_engine, web_settings, "ledger@example.com", ["dc"])
    active_subscriber(web_engine, web_settings, "other@example.com", ["dc"])
    delivery_id = delivery_for(web_engine, "ledger@example.com")
    # The address in the event differs (a forwarding alias): the ledger id decides.
    signed_post(client, webhook_key, [event("bounce", "other@example.com", "j1", delivery_id=delivery_id)])
    assert subscriber_state(web_engine, "ledger@example.com")[0] == "bounced"
    assert subscriber_state(web_engine, "other@example.com")[0] == "active"

    # Without a ledger id, the address is all there is.
    signed_post(client, webhook_key, [event("spamreport", "OTHER@example.com", "j2")])
    assert subscriber_state(web_engine, "other@example.com")[0] == "complained"
    [first, second] = stored_events(web_engine)
    assert first.delivery_id == delivery_id and second.delivery_id is None and second.subscriber_id is not None


def test_a_batch_of_1000_events_in_one_request(
    client: TestClient, webhook_key: WebhookKey, web_engine: sa.Engine, web_settings: Settings
) -> None:
    active_subscriber(web_engine, web_settings, "bulk@example.com", ["dc"])
    delivery_id = delivery_for(web_engine, "bulk@example.com")
    kinds = ["processed", "delivered", "open", "click", "deferred"]
    batch = [event(kinds[i % 5], f"r{i}@example.com", f"bulk-{i}", delivery_id=delivery_id) for i in range(999)]
    batch.append(event("bounce", "bulk@example.com", "bulk-999", delivery_id=delivery_id))
    assert signed_post(client, webhook_key, batch).status_code == 204
    with Session(web_engine) as session:
        assert session.exec(select(sa.func.count()).select_from(Event)).one() == 1000
    assert subscriber_state(web_engine, "bulk@example.com")[0] == "bounced"


def test_signed_body_that_is_not_a_list_is_a_400(client: TestClient, webhook_key: WebhookKey) -> None:
    for body in (b'{"event": "open"}', b"not json", b"\xff\xfe"):
        answer = client.post("/webhooks/sendgrid", content=body, headers=webhook_key.headers(body))
        assert answer.status_code == 400, body


def test_without_a_configured_key_every_post_is_refused(
    web_engine: sa.Engine, web_settings: Settings, webhook_key: WebhookKey
) -> None:
    from newsletter.web import create_app
    from tests.web_helpers import TestClient as Client

    unkeyed = web_settings.model_copy(update={"sendgrid_webhook_public_key": None})
    with Client(create_app(unkeyed, web_engine), base_url="https://testserver") as unkeyed_client:
        answer = signed_post(unkeyed_client, webhook_key, [event("spamreport", "k@example.com", "k1")])
    assert answer.status_code == 503
    assert stored_events(web_engine) == []


def test_a_malformed_configured_key_stops_the_app_at_start(web_engine: sa.Engine, web_settings: Settings) -> None:
    from newsletter.errors import ConfigurationError
    from newsletter.web import create_app

    bad = web_settings.model_copy(update={"sendgrid_webhook_public_key": "bm90IGEga2V5"})
    with pytest.raises(ConfigurationError, match="NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY"):
        create_app(bad, web_engine)


def test_pem_public_key_is_accepted_too(web_engine: sa.Engine, web_settings: Settings, webhook_key: WebhookKey) -> None:
    from cryptography.hazmat.primitives import serialization

    from newsletter.web import create_app
    from tests.web_helpers import TestClient as Client

    pem = (
        webhook_key.private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with Client(
        create_app(web_settings.model_copy(update={"sendgrid_webhook_public_key": pem}), web_engine),
        base_url="https://testserver",
    ) as pem_client:
        assert signed_post(pem_client, webhook_key, [event("open", "p@example.com", "pem-1")]).status_code == 204


@pytest.mark.parametrize("bad_id", ["\u00b2", "9" * 5000, 2**70, 2**63, "0", -3, "12a", " ", 1.5, "\uff11"])
def test_a_malformed_delivery_id_is_treated_as_absent(
    client: TestClient, webhook_key: WebhookKey, web_engine: sa.Engine, web_settings: Settings, bad_id: Any
) -> None:
    active_subscriber(web_engine, web_settings, "odd@example.com", ["dc"])
    answer = signed_post(client, webhook_key, [event("spamreport", "odd@example.com", "odd-1", delivery_id=bad_id)])
    assert answer.status_code == 204
    [stored] = stored_events(web_engine)
    # Not joined on the bogus id, but the address still identifies the subscriber.
    assert stored.delivery_id is None and stored.subscriber_id is not None
    assert subscriber_state(web_engine, "odd@example.com")[0] == "complained"


def test_largest_ledger_id_is_still_accepted(
    client: TestClient, webhook_key: WebhookKey, web_engine: sa.Engine, web_settings: Settings
) -> None:
    active_subscriber(web_engine, web_settings, "edge@example.com", ["dc"])
    delivery_id = delivery_for(web_engine, "edge@example.com")
    batch = [
        event("open", "edge@example.com", "edge-1", delivery_id=str(delivery_id)),
        event("open", "edge@example.com", "edge-2", delivery_id=str(2**63 - 1)),
    ]
    assert signed_post(client, webhook_key, batch).status_code == 204
    assert [e.delivery_id for e in stored_events(web_engine)] == [delivery_id, None]


def test_a_chunked_body_is_refused_once_it_passes_the_limit(web_settings: Settings, web_engine: sa.Engine) -> None:
    """Drive the real app over ASGI with a body that never ends: it must stop reading."""
    import asyncio

    from newsletter.web import create_app
    from newsletter.web.webhooks import MAX_BODY_BYTES

    app = create_app(web_settings, web_engine)
    chunk = b"x" * (1024 * 1024)
    received = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal received
        received += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}  # endless, as a hostile client

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": "/webhooks/sendgrid",
        "raw_path": b"/webhooks/sendgrid",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"transfer-encoding", b"chunked"),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 443),
    }
    asyncio.run(asyncio.wait_for(app(scope, receive, send), timeout=30))
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 413
    assert received <= MAX_BODY_BYTES + len(chunk)


def test_the_ledger_id_sendgrid_is_given_is_the_one_an_event_is_joined_on() -> None:
    """The join key is written by delivery and read by events/: one name, one spelling."""
    from datetime import UTC, datetime

    from newsletter.delivery.base import MessageContent, Recipient
    from newsletter.delivery.sendgrid_payload import to_sendgrid_request
    from newsletter.events.ingest import parse_event

    content = MessageContent(
        "Subject", "<p>hi</p>", "hi", "Desk", "desk@example.com", "https://n.example", "u@n.example"
    )
    request = to_sendgrid_request(content, [Recipient("a@example.com", "tok", 987_654_321_012)])
    # SendGrid flattens a personalization's custom_args into every event it posts.
    raw = event("delivered", "a@example.com", "ev-join", **request["personalizations"][0]["custom_args"])
    assert parse_event(raw, received_at=datetime.now(UTC)).delivery_id == 987_654_321_012
