"""The email itself: the view built from a snapshot (``view``), Jinja2 -> MJML -> HTML
and the text part (``edition``, with ``templates/`` as package data), inline styles
(``style``), the safe Markdown subset (``markdown``), share links (``share``) and
per-language labels (``locale``, ``inline_lang``). Pure: never touches the database;
imports only ``newsletter.links``, ``config`` and ``errors``.
"""
