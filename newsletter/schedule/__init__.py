"""When editions go out: the pure due-rules (``rules``: zoneinfo, DST, grace), the job
for one region and for all (``daily``) and the APScheduler 3 daemon (``runtime``, the
only importer of apscheduler). May import ``send``, ``editions``, ``content`` and ``db``.
"""
