"""SendGrid v3 mail send request bodies, built by pure functions (no network here).

One request carries the rendered content once and up to 1000 personalizations.
Each personalization holds one recipient, one substitution (the recipient's short
token; the template builds every personal URL from it), the ledger ids as
custom_args, and its own one-click unsubscribe headers.

Limits no JSON schema checks, taken from SendGrid's mail send documentation:

* at most 1000 recipients in total per request, and no address twice in one;
* substitutions at most 10,000 bytes per personalization; for the whole request we
  take the most cautious reading, 50,000 bytes, and split a batch to stay under it;
* custom_args at most 10,000 bytes (ours are three short ids, far below);
* at most 10 categories of at most 255 characters;
* the whole request under 30 MB (we keep a margin: 20 MB).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import orjson

from newsletter.delivery.base import MessageContent, Recipient, headers_for
from newsletter.delivery.stamps import EDITION_ARG, LEDGER_ARG, REGION_ARG, ledger_stamp
from newsletter.errors import ProviderLimitError
from newsletter.links import TOKEN_PLACEHOLDER

MAX_RECIPIENTS_PER_REQUEST = 1000
MAX_SUBSTITUTION_BYTES_PER_REQUEST = 50_000
MAX_SUBSTITUTION_BYTES_PER_PERSONALIZATION = 10_000
MAX_CATEGORIES = 10
MAX_CATEGORY_LENGTH = 255
MAX_REQUEST_BYTES = 20_000_000
# JSON punctuation, the "to" object, custom_args and headers of one personalization,
# over-estimated so the size check never under-counts (it is checked, not trusted).
_PERSONALIZATION_OVERHEAD_BYTES = 700

# Tokens up to a quarter of this many characters cannot break the per-personalization limit.
_TOKEN_BYTES_SURELY_FINE = MAX_SUBSTITUTION_BYTES_PER_PERSONALIZATION - len(TOKEN_PLACEHOLDER.encode("utf-8"))


def _utf8_len(text: str) -> int:
    # Runs twice per recipient: skip the encode for ASCII (every token), where bytes == characters.
    return len(text) if text.isascii() else len(text.encode("utf-8"))


_PLACEHOLDER_BYTES = _utf8_len(TOKEN_PLACEHOLDER)


def substitution_bytes(recipient: Recipient) -> int:
    """What one recipient's substitution costs against the per-request budget (key + value)."""
    return _PLACEHOLDER_BYTES + _utf8_len(recipient.token)


def plan_requests(content: MessageContent, recipients: Sequence[Recipient]) -> Iterator[list[Recipient]]:
    """Split recipients into requests that respect the count, substitution and size limits.

    A new request starts when the current one is full, when the substitution budget
    would be exceeded, or when an address is already in it (SendGrid refuses the
    whole request for a duplicate, and one reader would get two copies anyway).
    """
    content_bytes = _utf8_len(content.html) + _utf8_len(content.text) + _utf8_len(content.subject)
    if content_bytes + _PERSONALIZATION_OVERHEAD_BYTES > MAX_REQUEST_BYTES:
        raise ProviderLimitError(
            f"the rendered edition is {content_bytes} bytes; SendGrid requests must stay under "
            f"{MAX_REQUEST_BYTES} bytes"
        )
    per_request = (MAX_REQUEST_BYTES - content_bytes) // _PERSONALIZATION_OVERHEAD_BYTES
    limit = min(MAX_RECIPIENTS_PER_REQUEST, per_request)
    current: list[Recipient] = []
    seen: set[str] = set()
    budget = 0
    for recipient in recipients:
        cost = substitution_bytes(recipient)
        address = recipient.email.casefold()
        if current and (len(current) >= limit or budget + cost > MAX_SUBSTITUTION_BYTES_PER_REQUEST or address in seen):
            yield current
            current, seen, budget = [], set(), 0
        current.append(recipient)
        seen.add(address)
        budget += cost
    if current:
        yield current


def categories_for(content: MessageContent) -> list[str]:
    """Region and edition first, then any the content names; refused when over SendGrid's limits."""
    names = [name for name in (content.region_code, content.campaign, *content.categories) if name]
    unique = list(dict.fromkeys(names))
    if len(unique) > MAX_CATEGORIES:
        raise ProviderLimitError(f"{len(unique)} categories; SendGrid accepts at most {MAX_CATEGORIES}")
    for name in unique:
        if len(name) > MAX_CATEGORY_LENGTH:
            raise ProviderLimitError(f"category {name[:40]!r}... is longer than {MAX_CATEGORY_LENGTH} characters")
    return unique


def _shared_args(content: MessageContent) -> dict[str, str]:
    """The custom_args every personalization of an edition shares (its own ledger id is added)."""
    args: dict[str, str] = {}
    if content.edition_id is not None:
        args[EDITION_ARG] = str(content.edition_id)
    if content.region_code:
        args[REGION_ARG] = content.region_code
    return args


def _check_token(recipient: Recipient) -> None:
    # A UTF-8 character is at most 4 bytes: the caller measures only a token that could be too long.
    if substitution_bytes(recipient) > MAX_SUBSTITUTION_BYTES_PER_PERSONALIZATION:
        raise ProviderLimitError(f"the token for {recipient.email} is too long for a SendGrid substitution")


def _personalizations(content: MessageContent, recipients: Sequence[Recipient]) -> list[dict[str, Any]]:
    """One personalization per recipient: its address, its token, its headers and ledger id.

    This runs once per recipient of every edition, so it is one loop with what the
    recipients share (custom_args, the headers' constant parts) made once.
    """
    shared_args = _shared_args(content)
    headers_of = headers_for(content)
    personalizations: list[dict[str, Any]] = []
    append = personalizations.append
    for recipient in recipients:
        if len(recipient.token) * 4 > _TOKEN_BYTES_SURELY_FINE:  # only a token that could be too long
            _check_token(recipient)
        personalization: dict[str, Any] = {
            "to": [{"email": recipient.email}],
            "substitutions": {TOKEN_PLACEHOLDER: recipient.token},
            # Substitutions do not reach headers, so each personalization carries its own.
            "headers": headers_of(recipient),
        }
        if recipient.ledger_id is not None:
            personalization["custom_args"] = {LEDGER_ARG: ledger_stamp(recipient.ledger_id), **shared_args}
        elif shared_args:
            personalization["custom_args"] = shared_args
        append(personalization)
    return personalizations


def _check_request(content: MessageContent, recipients: Sequence[Recipient]) -> None:
    if not recipients:
        raise ValueError("a SendGrid request needs at least one recipient")
    if len(recipients) > MAX_RECIPIENTS_PER_REQUEST:
        raise ProviderLimitError(
            f"{len(recipients)} recipients; SendGrid accepts {MAX_RECIPIENTS_PER_REQUEST} per request"
        )
    if not content.subject.strip():
        raise ProviderLimitError("SendGrid refuses an empty subject")
    if not content.text or not content.html:
        raise ProviderLimitError("SendGrid refuses empty content; both text and HTML parts are required")


def _body(content: MessageContent, personalizations: Any, sandbox: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "personalizations": personalizations,
        "from": {"email": content.sender_address, "name": content.sender_name},
        "subject": content.subject,
        # text/plain must come before text/html (SendGrid refuses the other order).
        "content": [{"type": "text/plain", "value": content.text}, {"type": "text/html", "value": content.html}],
        "categories": categories_for(content),
        "mail_settings": {"sandbox_mode": {"enable": sandbox}},
        # Always explicit, so the account's defaults never decide: the report reads these events,
        # and the text part keeps its links as written (a tracking redirect there is unreadable).
        "tracking_settings": {
            "click_tracking": {"enable": content.track_clicks, "enable_text": False},
            "open_tracking": {"enable": content.track_opens},
        },
        # The same for every reader, so once per request (personal headers are per personalization).
        "headers": {"Content-Language": content.language},
    }
    if content.reply_to:
        body["reply_to"] = {"email": content.reply_to}
    return body


def to_sendgrid_request(
    content: MessageContent, recipients: Sequence[Recipient], *, sandbox: bool = False
) -> dict[str, Any]:
    """The v3 mail send body for one request. Call :func:`plan_requests` first to split a batch."""
    _check_request(content, recipients)
    return _body(content, _personalizations(content, recipients), sandbox)


def request_bytes(body: dict[str, Any]) -> bytes:
    """A request body as the UTF-8 JSON bytes that are posted.

    orjson, not the stdlib json the official client would use: for a million
    recipients that is about 0.3 s instead of about 2.5 s. Same JSON value;
    non-ASCII is written as UTF-8 rather than ``\\u`` escapes (the body is sent
    as UTF-8, see :mod:`.sendgrid`).
    """
    return orjson.dumps(body)


def serialize_request(body: dict[str, Any]) -> str:
    """:func:`request_bytes` as text."""
    return request_bytes(body).decode("utf-8")
