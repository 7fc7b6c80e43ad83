"""Provider events: verify the SendGrid Event Webhook's signature (``signature``), then
normalise, store and apply them (bounces, spam reports and unsubscribes suppress) in
``ingest`` (our own pages' unsubscribes are recorded as events by
``subscribers.lifecycle.unsubscribe``); report what
happened to an edition (``report`` over ``figures`` and ``clicks``, and its HTML page in
``report_page``). The web route
only calls it. May import ``editions``, ``render`` (share-link tags), ``subscribers`` and ``db``.
"""
