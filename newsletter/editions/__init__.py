"""Editions: what goes into one (``assembly``), its life cycle from draft to sent
(``lifecycle``; it builds the frozen :mod:`newsletter.render.snapshot`), the race-safe
row for (region, local date) (``rows``) and the Gmail clip guard (``clip_guard``).
May import ``content``, ``render`` and ``db``; never ``send``, ``schedule`` or ``web``.
"""
