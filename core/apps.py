from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Platform core"

    def ready(self):
        _convert_long_statements_once()


def _convert_long_statements_once() -> None:
    """psycopg rewrites a statement's ``%s`` placeholders (to ``$1``…) once per distinct statement and keeps the
    result, in a cache of 128, but only for statements of at most 50 values and 4 kB: an ORM's multi-row INSERTs
    vary too much to be worth keeping. The payment path's writes sent together (``core.db.writes_together``:
    the payment's 45 columns and the rows written with it) are longer, and the same on every payment; without
    this psycopg parses them again each time, 5% of a create-and-confirm's web CPU. The cache stays at 128
    statements; each may now be up to 32 kB."""
    try:
        from psycopg import _queries
    except ImportError:  # SQLite only
        return
    _queries.MAX_CACHED_STATEMENT_LENGTH = max(_queries.MAX_CACHED_STATEMENT_LENGTH, 32 * 1024)
    _queries.MAX_CACHED_STATEMENT_PARAMS = max(_queries.MAX_CACHED_STATEMENT_PARAMS, 500)
