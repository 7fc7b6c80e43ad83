"""Provider events: verify the SendGrid Event Webhook's signature (``signature``), then
normalise, store and apply them (bounces, spam reports and unsubscribes suppress) in
``ingest``. The web route only calls it. May import ``subscribers`` and ``db``.
"""
