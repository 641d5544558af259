"""Property-based fuzzing of the merchant API from its own OpenAPI document (schemathesis).

Every operation of /api/schema/ is called in-process (WSGI) with an authenticated merchant key and
the session's sandbox processor, with data the document allows (positive mode) and data it does
not (negative mode: wrong types, missing or unknown fields, malformed ids and headers…). Every
answer must not be a 5xx and must conform to the document: a documented status, content type and
body. Bounded in time: at most ``FUZZ_MAX_EXAMPLES`` examples per operation and mode
(derandomized, so a run is repeatable), and a budget of ``FUZZ_BUDGET_SECONDS`` for the whole run
after which the remaining operations are reported as not reached (the test fails: raise the
budget or lower the examples rather than fuzz less silently).
"""

import os
import time
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import requires_postgres

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "25"))
BUDGET_SECONDS = float(os.environ.get("FUZZ_BUDGET_SECONDS", "150"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

pytestmark = [pytest.mark.slow, requires_postgres]


@pytest.fixture
def wsgi_app(db, sandbox):
    """The platform's WSGI application, its requests sharing the test's database connection."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    from config.wsgi import application

    # As Django's test client does: the test's transaction holds the connection, which the request
    # signals would otherwise close (autocommit is off inside it).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield application
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_the_api_answers_every_generated_request_as_its_document_says(wsgi_app, api_key):
    schema = schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app)
    auth = {"Authorization": f"Bearer {api_key}"}
    started = time.monotonic()
    statuses: Counter = Counter()
    failures: list[str] = []
    not_reached: list[str] = []

    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            label = f"{operation.label} ({mode.value})"
            if time.monotonic() - started > BUDGET_SECONDS:
                not_reached.append(label)
                continue

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
                phases=[Phase.explicit, Phase.generate, Phase.shrink],
            )
            def call(case):
                response = case.call_and_validate(headers=auth, checks=CHECKS)
                statuses[response.status_code] += 1

            try:
                call()
            except Exception as failure:  # noqa: BLE001 - every operation is fuzzed, then all failures reported
                failures.append(f"{label}: {failure}")

    elapsed = time.monotonic() - started
    summary = (
        f"{sum(statuses.values())} requests in {elapsed:.0f} s, statuses {dict(sorted(statuses.items()))}, "
        f"{len(failures)} failing operations, {len(not_reached)} not reached"
    )
    print(summary)  # noqa: T201 - the run's figures, shown with -s or on failure
    assert not failures, summary + "\n\n" + "\n\n".join(failures)
    assert not not_reached, f"{summary}: over the {BUDGET_SECONDS:.0f} s budget before {not_reached}"
    assert not any(status >= 500 for status in statuses), summary
