"""Build one RFC 5322 message (multipart/alternative: text, then HTML) for one recipient."""

from __future__ import annotations

import re
import sys
from datetime import datetime
from email.headerregistry import BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import Policy, default
from email.utils import format_datetime, formataddr, make_msgid
from typing import TYPE_CHECKING

from newsletter.delivery.base import MessageContent, Recipient, personalise

# RFC 2369 headers: each value is a comma-separated list of <URL>s.
URL_LIST_HEADERS = ("List-Unsubscribe", "List-Help", "List-Subscribe", "List-Post", "List-Owner", "List-Archive")
_ITEM_BREAK = re.compile(r"(?<=>)\s*,\s*")

if TYPE_CHECKING:
    # HeaderRegistry mixes BaseHeader in when it builds a header class from this mixin
    # (type(name, (mixin, BaseHeader), {})); the type checker is told so here.
    class _UnstructuredHeader(UnstructuredHeader, BaseHeader): ...
else:
    _UnstructuredHeader = UnstructuredHeader


class UrlListHeader(_UnstructuredHeader):
    """A list of <URL>s, folded only at the commas between items and never RFC 2047-encoded.

    The email package would fold such a header as free text: a URL that does not fit the
    line becomes an encoded word (``=?utf-8?q?=3Cmailto...?=``), which mail programs do not
    decode in List-Unsubscribe, so they find no mailto and, when the HTTPS half is encoded
    too, Gmail shows no unsubscribe button. A URL is never broken: an item longer than a
    line gets a line of its own.
    """

    max_count = 1

    def fold(self, *, policy: Policy) -> str:
        value = str(self).strip()
        if not value.isascii() and not getattr(policy, "utf8", False):
            # Our URLs are ASCII (links.py percent-encodes); anything else keeps the
            # standard treatment rather than writing bytes the transport may refuse.
            return super().fold(policy=policy)
        limit = policy.max_line_length or sys.maxsize
        items = _ITEM_BREAK.split(value)
        lines = [f"{self.name}: {items[0]}"]
        for item in items[1:]:
            lines[-1] += ","
            if len(lines[-1]) + 1 + len(item) <= limit:
                lines[-1] += f" {item}"
            else:
                lines.append(f" {item}")
        return policy.linesep.join(lines) + policy.linesep


def _policy() -> Policy:
    registry = HeaderRegistry()
    for name in URL_LIST_HEADERS:
        registry.map_to_type(name.lower(), UrlListHeader)
    return default.clone(header_factory=registry)


# The default policy, except that URL-list headers fold as above.
MESSAGE_POLICY = _policy()


def build_mime(content: MessageContent, recipient: Recipient, *, now: datetime) -> EmailMessage:
    """The complete message for one recipient, with every header in place."""
    filled = personalise(content, recipient)
    message = EmailMessage(policy=MESSAGE_POLICY)
    message["From"] = formataddr((content.sender_name, content.sender_address))
    message["To"] = recipient.email
    message["Subject"] = filled.subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=content.sender_address.rpartition("@")[2] or None)
    if content.reply_to:
        message["Reply-To"] = content.reply_to
    for name, value in filled.headers.items():
        message[name] = value
    message.set_content(filled.text, subtype="plain", charset="utf-8")
    message.add_alternative(filled.html, subtype="html", charset="utf-8")
    # Only now: set_content drops every Content-* header already on the message, and
    # add_alternative moves them into the first part.
    message["Content-Language"] = content.language
    return message


def smtp_bytes(message: EmailMessage) -> bytes:
    """The message as SMTP carries it: CRLF line ends (smtplib fixes them for str, not for bytes)."""
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
