"""Subscribers: life cycle (subscribe, confirm, preferences, pause, unsubscribe,
suppress, revoke; ``lifecycle``), signed tokens (``tokens``), region-bound confirmation
links (``confirm_links``), the subscribe form's limits (``limits``), the status history
(``history``), erased addresses (``erased``), and the list manager's tools: one address
(``admission``, ``manager``), CSV import (``import_file``, ``importing``, ``bulk``,
``bulk_sql``) and export (``exporting``). May import ``db``; knows nothing of editions,
sending or the web app.
"""
