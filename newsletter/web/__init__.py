"""The subscriber-facing web app: subscribe, confirm, preferences, unsubscribe, archive, webhook.

Only this package imports FastAPI. Routes parse the request, call one service
function (:mod:`newsletter.subscribers.lifecycle`, :mod:`newsletter.events.ingest`) and render.
"""

from newsletter.web.app import create_app

__all__ = ["create_app"]
