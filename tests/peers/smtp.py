"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives.

It can refuse chosen recipients (550), put some off (a chosen 4xx) and drop the connection at a chosen step,
so tests see how the SMTP backend behaves on a live socket.
"""

from __future__ import annotations

import email
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from email.policy import default as default_policy
from typing import Any

import pytest
from aiosmtpd.controller import Controller


@dataclass
class SmtpStandIn:
    port: int = 0
    refuse: set[str] = field(default_factory=set)  # RCPT TO these gets 550
    defer: dict[str, str] = field(default_factory=dict)  # RCPT TO these gets this 4xx reply (greylisting)
    refuse_data: set[str] = field(default_factory=set)  # DATA for these recipients gets 554
    rcpt_asked: list[str] = field(default_factory=list)  # every RCPT TO address, in order
    drop_at: dict[str, int] = field(default_factory=dict)  # step ("MAIL", "DATA", "RSET") -> how many times to drop
    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)  # (from, to, raw)
    connections: int = 0

    def parsed(self) -> list[Message]:
        return [email.message_from_bytes(raw, policy=default_policy) for _, _, raw in self.messages]

    def _drop(self, step: str, server: Any) -> bool:
        if self.drop_at.get(step, 0) > 0:
            self.drop_at[step] -= 1
            server.transport.close()
            return True
        return False


class _Handler:
    def __init__(self, standin: SmtpStandIn) -> None:
        self.standin = standin

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.standin.connections += 1
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if self.standin._drop("MAIL", server):
            return "421 closing"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        self.standin.rcpt_asked.append(address)
        if address in self.standin.refuse:
            return "550 5.1.1 mailbox unavailable"
        if address in self.standin.defer:
            return self.standin.defer[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_RSET(self, server: Any, session: Any, envelope: Any) -> str:
        if self.standin._drop("RSET", server):
            return "421 closing"
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if set(envelope.rcpt_tos) & self.standin.refuse_data:
            return "554 5.6.0 message content rejected"
        # Dropped after the whole message arrived but before the answer: the case
        # where the sender cannot know whether it was queued.
        self.standin.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or envelope.content)
        )
        if self.standin._drop("DATA", server):
            return "421 closing"
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp_standin() -> Iterator[SmtpStandIn]:
    standin = SmtpStandIn(port=_free_port())
    controller = Controller(_Handler(standin), hostname="127.0.0.1", port=standin.port)
    controller.start()
    try:
        yield standin
    finally:
        controller.stop()
