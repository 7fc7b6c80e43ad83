"""What every route needs, built once by ``create_app`` and handed over as a dependency."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import Depends, Request

from newsletter.config import Settings
from newsletter.delivery.base import Backend


@dataclass(frozen=True)
class WebContext:
    settings: Settings
    engine: sa.Engine
    # Called per transactional mail; the backend is closed after each use.
    backend_factory: Callable[[], Backend]
    clock: Callable[[], datetime]
    # Parsed once at start-up, so a malformed key stops the app instead of every event.
    webhook_key: ec.EllipticCurvePublicKey | None

    @property
    def secure_cookies(self) -> bool:
        return self.settings.base_url.startswith("https://")


def _web_context(request: Request) -> WebContext:
    context: WebContext = request.app.state.web
    return context


Web = Annotated[WebContext, Depends(_web_context)]
