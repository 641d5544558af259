"""Every statement a create-and-confirm sends is one psycopg converts once and keeps (``core.apps``): within the
raised limits of its conversion cache, so that none is parsed again on every payment."""

from django.db import connection

from tests.conftest import requires_postgres
from tests.payments.helpers import create_payment


@requires_postgres
def test_the_payment_paths_statements_fit_the_conversion_cache(api_client, sandbox):
    from psycopg import _queries

    sent = []

    def record(execute, sql, params, many, context):
        sent.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        response = create_payment(api_client, confirm=True)
    assert response.status_code == 201 and response.json()["status"] == "succeeded"
    with_values = [(sql, params) for sql, params in sent if params]
    longest = max(len(sql.encode()) for sql, _ in with_values)
    most_values = max(len(params) for _, params in with_values)
    # The payment's own writes go beyond psycopg's defaults (50 values, 4 kB): the raised limits are needed...
    assert most_values > 50
    # ...and hold them all, with room to spare.
    assert longest * 2 <= _queries.MAX_CACHED_STATEMENT_LENGTH
    assert most_values * 2 <= _queries.MAX_CACHED_STATEMENT_PARAMS
