"""An unknown list filter is a 400 ``parameter_unknown`` naming it, never ignored (issue 18): a misspelled filter
would otherwise answer a list the client did not ask for."""

import pytest

from tests.payments.helpers import error_of

pytestmark = pytest.mark.django_db

LISTS = {
    "/api/v1/payments": "status=succeeded&created[gte]=0",
    "/api/v1/refunds": "payment=pay_x&status=succeeded&created[lt]=9",
    "/api/v1/disputes": "payment=pay_x&created[lte]=9",
    "/api/v1/events": "type=payment.*&created[gt]=0",
    "/api/v1/webhook_endpoints": "",
    "/api/v1/balance_transactions": "type=charge&source=pay_x&created[gte]=0",
    "/api/v1/external_accounts": "currency=USD",
    "/api/v1/payouts": "status=paid&created[gte]=0",
}


@pytest.mark.parametrize("url", LISTS)
def test_a_misspelled_filter_is_refused_and_the_known_ones_are_not(api_client, url):
    known = api_client.get(f"{url}?limit=5&{LISTS[url]}")
    assert known.status_code == 200, known.content
    response = api_client.get(f"{url}?limit=5&statuss=succeeded")
    assert response.status_code == 400, response.content
    error = error_of(response)
    assert (error["code"], error["param"]) == ("parameter_unknown", "statuss")
    assert "statuss" in error["message"] and "limit" in error["message"]


def test_a_family_of_parameters_is_accepted_by_its_prefix():
    from django.http import QueryDict

    from core.errors import InvalidRequestError
    from edge.pagination import reject_unknown_parameters

    reject_unknown_parameters(QueryDict("metadata[order]=1&limit=2"), ["limit", "metadata[*]"])
    for bad in ("metadata=1", "metadatax[a]=1", "meta[a]=1"):
        with pytest.raises(InvalidRequestError):
            reject_unknown_parameters(QueryDict(bad), ["limit", "metadata[*]"])
