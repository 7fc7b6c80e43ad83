"""The database: engine and sessions (``engine``), the SQLModel tables and closed
vocabularies (``models``), lookups several layers share (``queries``), column types
that behave alike on SQLite and PostgreSQL (``types``), one-line explanations of connection
failures (``errors``) and the Alembic
``migrations``. May import only ``newsletter.config``/``errors``; everything else may
import it.
"""
