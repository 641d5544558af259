import pytest
from django.core.cache import cache

from tests.edge.test_errors import assert_error_shape


@pytest.fixture
def two_per_second(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"merchant": "2/s"}}
    cache.clear()
    yield
    cache.clear()


def test_too_many_requests_are_429_in_the_contract_shape(api_client, two_per_second):
    answers = [api_client.get("/api/v1/account") for _ in range(5)]
    statuses = [answer.status_code for answer in answers]
    assert statuses.count(200) >= 2 and 429 in statuses
    limited = next(answer for answer in answers if answer.status_code == 429)
    assert_error_shape(limited, 429, "rate_limit_error", "rate_limit")
    assert int(limited["Retry-After"]) >= 1


def test_the_limit_is_per_merchant(api_client, other_api_client, two_per_second):
    for _ in range(3):
        api_client.get("/api/v1/account")
    assert other_api_client.get("/api/v1/account").status_code == 200
