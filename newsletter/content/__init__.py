"""Content in: read and validate content files (``files``), upsert them in one
transaction (``loading``) and what is stored per region (``summary``). Header text is
checked against the shared bidi-control rule (:mod:`newsletter.bidi`). May import
``newsletter.db``; knows nothing of editions, rendering or sending.
"""
