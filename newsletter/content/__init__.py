"""Content in: read and validate content files (``files``), upsert them in one
transaction (``loading``), what is stored per region (``summary``), and the bidi-control
rule for text that becomes a header (``bidi``). May import ``newsletter.db``; knows
nothing of editions, rendering or sending.
"""
