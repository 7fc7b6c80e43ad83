"""The database: engine and sessions (``engine``), the SQLModel tables and closed
vocabularies (``models``), column types that behave alike on SQLite and PostgreSQL
(``types``), one-line explanations of connection failures (``errors``) and the Alembic
``migrations``. May import only ``newsletter.config``/``errors``; everything else may
import it.
"""
