"""A local stand-in for SendGrid's v3 mail send: a real HTTP server on 127.0.0.1.

It checks each request the way SendGrid documents mail send (the rules below are
copied from the v3 mail send reference and its OpenAPI description, including the
ones no schema can express) and answers as a test scripts it: 202 (or 200 when the
request asks for sandbox mode), 400, 401, 403, 413, 429 with X-RateLimit-Reset,
500, a hang, or a dropped connection.

Accepted requests are kept, so a test can count what each address received.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest

API_KEY = "SG.test-key-for-the-local-stand-in"
RESERVED_HEADERS = {
    "x-sg-id",
    "x-sg-eid",
    "received",
    "dkim-signature",
    "content-type",
    "content-transfer-encoding",
    "to",
    "from",
    "subject",
    "reply-to",
    "cc",
    "bcc",
}


def _utf8(value: Any) -> int:
    return len(orjson.dumps(value))


def problems(body: Any) -> list[tuple[str, str]]:
    """(field, message) for every documented rule the body breaks; empty when valid."""
    found: list[tuple[str, str]] = []
    if not isinstance(body, dict):
        return [("", "the body must be a JSON object")]
    personalizations = body.get("personalizations")
    if not isinstance(personalizations, list) or not 1 <= len(personalizations) <= 1000:
        return [("personalizations", "1 to 1000 personalizations are required")]
    if not isinstance(body.get("from"), dict) or "@" not in str(body["from"].get("email", "")):
        found.append(("from.email", "a from address is required"))
    seen: set[str] = set()
    recipients = 0
    substitution_total = 0
    for index, p in enumerate(personalizations):
        where = f"personalizations.{index}"
        to = p.get("to")
        if not isinstance(to, list) or not to:
            found.append((f"{where}.to", "at least one recipient is required"))
            continue
        for kind in ("to", "cc", "bcc"):
            for address in p.get(kind, []):
                email = str(address.get("email", "")).casefold()
                if "@" not in email:
                    found.append((f"{where}.{kind}", "invalid email"))
                if email in seen:
                    found.append(
                        (f"{where}.{kind}", "each email address in the personalization block should be unique")
                    )
                seen.add(email)
                recipients += 1
        if not (p.get("subject") or body.get("subject")):
            found.append((f"{where}.subject", "a subject is required"))
        substitutions = p.get("substitutions", {})
        size = sum(len(k.encode()) + len(str(v).encode()) for k, v in substitutions.items())
        if size > 10_000:
            found.append((f"{where}.substitutions", "substitutions may not exceed 10,000 bytes per personalization"))
        substitution_total += size
        custom_args = p.get("custom_args", {})
        if any(not isinstance(v, str) for v in custom_args.values()):
            found.append((f"{where}.custom_args", "custom_args values must be strings"))
        if _utf8(custom_args) > 10_000:
            found.append((f"{where}.custom_args", "custom_args may not exceed 10,000 bytes"))
        for name, value in p.get("headers", {}).items():
            if name.casefold() in RESERVED_HEADERS:
                found.append((f"{where}.headers", f"header {name} may not be overridden"))
            if not isinstance(value, str):
                found.append((f"{where}.headers", "header values must be strings"))
    for name, value in body.get("headers", {}).items():
        if name.casefold() in RESERVED_HEADERS:
            found.append(("headers", f"header {name} may not be overridden"))
        if not isinstance(value, str):
            found.append(("headers", "header values must be strings"))
    if recipients > 1000:
        found.append(("personalizations", "at most 1000 recipients per request"))
    if substitution_total > 50_000:
        found.append(("personalizations", "substitutions may not exceed 50,000 bytes per request"))
    content = body.get("content")
    if not isinstance(content, list) or not content:
        found.append(("content", "at least one content part is required"))
    else:
        types = [part.get("type") for part in content]
        if "text/plain" in types and types.index("text/plain") != 0:
            found.append(("content", "text/plain must come first"))
        if any(not part.get("value") for part in content):
            found.append(("content", "content values may not be empty"))
    categories = body.get("categories", [])
    if len(categories) > 10 or len(set(categories)) != len(categories) or any(len(c) > 255 for c in categories):
        found.append(("categories", "at most 10 unique categories of at most 255 characters"))
    sandbox = body.get("mail_settings", {}).get("sandbox_mode", {}).get("enable", False)
    if not isinstance(sandbox, bool):
        found.append(("mail_settings.sandbox_mode.enable", "must be a boolean"))
    return found


@dataclass
class StandIn:
    """Scripted answers (popped per request; ``default`` after that) and what was received."""

    port: int = 0
    default: str = "202"
    script: list[str] = field(default_factory=list)
    delay: float = 0.0  # seconds before each answer (to keep several dispatchers overlapping)
    keep_bodies: bool = True  # off for benchmarks: count, do not keep a million recipients
    accepted_recipients: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)  # every well-formed body that arrived
    accepted: list[dict[str, Any]] = field(default_factory=list)  # bodies answered 2xx
    answers: list[int] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0  # the most requests it was handling at once
    release_hang: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def next_answer(self) -> str:
        with self.lock:
            return self.script.pop(0) if self.script else self.default

    def recipients(self, bodies: list[dict[str, Any]] | None = None) -> Counter[str]:
        """How many times each address appears across accepted (or given) requests."""
        counts: Counter[str] = Counter()
        for body in self.accepted if bodies is None else bodies:
            for p in body["personalizations"]:
                counts.update(a["email"] for a in p["to"])
        return counts


def _handler(standin: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

        def _answer(self, status: int, payload: Any = None, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode() if payload is not None else b""
            with standin.lock:  # before answering, so the client never sees it first
                standin.answers.append(status)
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if data:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _errors(self, status: int, *pairs: tuple[str | None, str]) -> None:
            self._answer(status, {"errors": [{"field": f, "message": m} for f, m in pairs]})

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path != "/v3/mail/send":
                return self._errors(404, (None, f"no route {self.path}"))
            if self.headers.get("Authorization") != f"Bearer {API_KEY}":
                return self._errors(401, (None, "The provided authorization grant is invalid, expired, or revoked"))
            if not self.headers.get("Content-Type", "").startswith("application/json"):
                return self._errors(415, (None, "Content-Type must be application/json"))
            try:
                # orjson: a benchmark's stand-in parses 600 KB bodies dozens of times a second.
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                return self._errors(400, (None, "Bad Request"))
            if standin.keep_bodies:
                with standin.lock:
                    standin.received.append(body)
            found = problems(body)
            if found:
                return self._errors(400, *found)
            answer = standin.next_answer()
            with standin.lock:
                standin.in_flight += 1
                standin.most_in_flight = max(standin.most_in_flight, standin.in_flight)
            try:
                self._respond(body, answer)
            finally:
                with standin.lock:
                    standin.in_flight -= 1

        def _respond(self, body: dict[str, Any], answer: str) -> None:
            if standin.delay:
                time.sleep(standin.delay)
            if answer == "hang":
                standin.release_hang.wait(60)
                self.close_connection = True
                return
            if answer == "drop":
                self.close_connection = True
                self.connection.close()
                return
            status = int(answer)
            if status in (200, 202):
                sandbox = body.get("mail_settings", {}).get("sandbox_mode", {}).get("enable", False)
                with standin.lock:
                    standin.accepted_recipients += len(body["personalizations"])
                    if standin.keep_bodies:
                        standin.accepted.append(body)
                    message_id = f"msg{len(standin.answers) + 1:06d}"
                return self._answer(200 if sandbox else 202, None, {"X-Message-Id": message_id})
            if status == 429:
                return self._answer(
                    429,
                    {"errors": [{"field": None, "message": "too many requests"}]},
                    {
                        "X-RateLimit-Limit": "600",
                        "X-RateLimit-Remaining": "0",
                        "X-RateLimit-Reset": str(int(time.time()) + 2),
                    },
                )
            messages = {
                400: "invalid request",
                401: "authorization required",
                403: "access forbidden",
                413: "content too large",
                500: "internal server error",
            }
            return self._errors(status, (None, messages.get(status, "error")))

    return Handler


def start_standin(*, keep_bodies: bool = True) -> tuple[StandIn, ThreadingHTTPServer, threading.Thread]:
    standin = StandIn(keep_bodies=keep_bodies)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(standin))
    server.daemon_threads = True
    standin.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="sendgrid-standin", daemon=True)
    thread.start()
    return standin, server, thread


@pytest.fixture
def sendgrid_standin() -> Iterator[StandIn]:
    standin, server, thread = start_standin()
    try:
        yield standin
    finally:
        standin.release_hang.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


if __name__ == "__main__":
    # For benchmarks: serve in a process of its own (so it does not share the GIL with the
    # dispatcher being measured), print the port, answer 202 until killed; an optional
    # argument is the delay before each answer, in seconds (a provider's latency).
    import sys

    from newsletter.collector import spare_for_sending

    # Each request parses into some 10,000 dicts, lists and strings that die with it; with
    # the collector's defaults the parse walks them over and over (it takes about twice as
    # long). The benchmarks' dispatchers share the CPU with this process.
    spare_for_sending()
    _standin, _server, _thread = start_standin(keep_bodies=False)
    _standin.delay = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0
    print(_standin.port, flush=True)
    _thread.join()
