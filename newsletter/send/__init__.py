"""Sending an edition: the service that opens, runs and closes a send (``service``,
``edition``), the batch loop (``loop``), the delivery ledger's SQL (``ledger``), pacing
and backoff (``pacing``), stop signals (``stop_signals``) and proof copies (``proofs``).
May import ``editions``, ``render``, ``subscribers``, ``delivery`` and ``db``; never
``schedule``, ``web`` or ``cli``.
"""
