"""SMTP backend (stdlib smtplib): one connection per thread, reused across batches.

Each message is its own SMTP transaction, sent step by step (MAIL, RCPT, DATA) so
a dropped connection can be judged by *when* it dropped:

* before DATA: the server has nothing to deliver; reconnect once and go on;
* during or after DATA, before the server's answer: it may have queued the
  message, so the outcome is unknown and the message is not sent again.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from newsletter.config import SmtpSecurity
from newsletter.delivery.base import MessageContent, Outcome, Recipient, SendResult
from newsletter.delivery.mime import build_mime, smtp_bytes
from newsletter.delivery.units import deliver_units
from newsletter.errors import AuthenticationError, TransientDeliveryError, UnknownOutcomeError

_DROPPED = (smtplib.SMTPServerDisconnected, OSError)


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return f"{code} {text}".strip()


class SmtpBackend:
    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: SmtpSecurity = SmtpSecurity.NONE,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.host = host
        self.port = port
        self.security = security
        self._username = username
        self._password = password
        self.timeout = timeout
        self._ssl_context = ssl_context or ssl.create_default_context()
        self._clock = clock
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: list[smtplib.SMTP] = []  # every thread's connection, for close()

    def __repr__(self) -> str:  # never show the password
        return f"SmtpBackend(host={self.host!r}, port={self.port}, security={self.security.value!r})"

    # -- connection ---------------------------------------------------------------

    def _connect(self) -> smtplib.SMTP:
        try:
            if self.security is SmtpSecurity.TLS:
                connection: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=self._ssl_context
                )
            else:
                connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            connection.ehlo()
            if self.security is SmtpSecurity.STARTTLS:
                connection.starttls(context=self._ssl_context)
                connection.ehlo()
            if self._username:
                connection.login(self._username, self._password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise AuthenticationError(
                "the SMTP server refused the login; check NEWSLETTER_SMTP_USERNAME and NEWSLETTER_SMTP_PASSWORD",
                status=exc.smtp_code,
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            # Nothing was sent on a connection that never opened.
            raise TransientDeliveryError(f"could not connect to SMTP server {self.host}:{self.port}: {exc}") from None
        with self._lock:
            self._open.append(connection)
        return connection

    def _connection(self) -> smtplib.SMTP:
        connection: smtplib.SMTP | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self._connect()
        return connection

    def _drop(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            with self._lock:
                if connection in self._open:
                    self._open.remove(connection)
            with contextlib.suppress(OSError):
                connection.close()

    # -- sending ------------------------------------------------------------------

    def send_batch(self, content: MessageContent, recipients: Sequence[Recipient]) -> list[SendResult]:
        return deliver_units(([r] for r in recipients), lambda unit: [self._send_one(content, unit[0])])

    def _envelope(self, sender: str, recipient: Recipient, options: list[str]) -> SendResult | None:
        """MAIL and RCPT; a refusal here is the recipient's result, None means go on to DATA."""
        connection = self._connection()
        code, reply = connection.mail(sender, options)
        if code != 250:
            self._reset(connection)
            return self._refused(recipient, "MAIL FROM", code, reply)
        code, reply = connection.rcpt(recipient.email)
        if code not in (250, 251):
            self._reset(connection)
            return self._refused(recipient, "RCPT TO", code, reply)
        return None

    def _reset(self, connection: smtplib.SMTP) -> None:
        """RSET after a refusal. The refusal is already known for certain; a server that hangs
        up on the RSET only costs us the connection (the next message opens a new one)."""
        try:
            connection.rset()
        except _DROPPED:
            self._drop()

    def _refused(self, recipient: Recipient, step: str, code: int, reply: bytes) -> SendResult:
        if 400 <= code < 500 and step == "RCPT TO" and code != 421:
            # This recipient alone is put off (greylisting, 452 mailbox full): defer it and go on.
            # 421 is the server closing the connection, which concerns everyone after it.
            return SendResult(
                recipient, Outcome.DEFERRED, error=f"SMTP {step} deferred: {_reply(code, reply)}", recipient_only=True
            )
        if 400 <= code < 500:
            raise TransientDeliveryError(f"SMTP {step} deferred: {_reply(code, reply)}", status=code)
        return SendResult(recipient, Outcome.FAILED, error=f"SMTP {step} refused: {_reply(code, reply)}")

    def _send_one(self, content: MessageContent, recipient: Recipient) -> SendResult:
        message = build_mime(content, recipient, now=self._clock())
        options = ["SMTPUTF8"] if not recipient.email.isascii() else []
        try:
            refused = self._envelope(content.sender_address, recipient, options)
        except _DROPPED:
            # Dropped before DATA (an idle connection timed out, the server restarted):
            # the server holds nothing of this message, so one fresh connection is safe.
            self._drop()
            try:
                refused = self._envelope(content.sender_address, recipient, options)
            except _DROPPED as exc:
                self._drop()
                raise TransientDeliveryError(f"SMTP connection lost before DATA: {exc}") from None
        if refused is not None:
            return refused
        connection = self._connection()
        try:
            code, reply = connection.data(smtp_bytes(message))
        except smtplib.SMTPDataError as exc:  # DATA itself refused: nothing was accepted
            self._reset(connection)
            if 400 <= exc.smtp_code < 500:
                raise TransientDeliveryError(f"SMTP DATA deferred: {_reply(exc.smtp_code, exc.smtp_error)}") from None
            return SendResult(
                recipient, Outcome.FAILED, error=f"SMTP DATA refused: {_reply(exc.smtp_code, exc.smtp_error)}"
            )
        except _DROPPED as exc:
            self._drop()
            raise UnknownOutcomeError(
                f"SMTP connection lost during DATA; the server may have queued it: {exc}"
            ) from None
        if code != 250:
            if 400 <= code < 500:
                raise TransientDeliveryError(f"SMTP message deferred: {_reply(code, reply)}", status=code)
            return SendResult(recipient, Outcome.FAILED, error=f"SMTP message refused: {_reply(code, reply)}")
        return SendResult(recipient, Outcome.SENT, provider_message_id=message["Message-ID"])

    def close(self) -> None:
        with self._lock:
            connections, self._open = self._open, []
        for connection in connections:
            try:
                connection.quit()
            except (smtplib.SMTPException, OSError):
                connection.close()
        self._local = threading.local()
