"""Build one RFC 5322 message (multipart/alternative: text, then HTML) for one recipient."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from datetime import datetime

from newsletter.delivery.base import MessageContent, Recipient, personalise


def build_mime(content: MessageContent, recipient: Recipient, *, now: datetime) -> EmailMessage:
    """The complete message for one recipient, with every header in place."""
    filled = personalise(content, recipient)
    message = EmailMessage()
    message["From"] = formataddr((content.sender_name, content.sender_address))
    message["To"] = recipient.email
    message["Subject"] = filled.subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=content.sender_address.rpartition("@")[2] or None)
    message["Content-Language"] = content.language
    if content.reply_to:
        message["Reply-To"] = content.reply_to
    for name, value in filled.headers.items():
        message[name] = value
    message.set_content(filled.text, subtype="plain", charset="utf-8")
    message.add_alternative(filled.html, subtype="html", charset="utf-8")
    return message
