"""The email itself: its input, the frozen snapshot of an edition's content (``snapshot``;
editions builds it, render only reads it), the view built from it (``view``), Jinja2 ->
MJML -> HTML and the text part (``edition``, with ``templates/`` as package data), inline
styles (``style``), the safe Markdown subset (``markdown``), share links (``share``) and
per-language labels (``locale``, ``inline_lang``). Pure: never touches the database;
imports only the shared ``newsletter.links``, ``bidi``, ``config`` and ``errors``.
"""
