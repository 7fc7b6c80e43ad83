"""Sends on a distributed task queue (Celery; NEWSLETTER_QUEUE_URL names the broker).

``jobs`` is what a task carries and its body (the send service, and when to run it
again); ``celery_app`` is the only importer of Celery and kombu: the app, enqueueing,
following results, the worker. May import ``send`` and below; never ``schedule``,
``web`` or ``cli``. With no queue set, nothing here runs: sends stay in-process.
"""
