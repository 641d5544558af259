import pytest
from rest_framework.test import APIRequestFactory

from core.errors import InvalidRequestError
from edge.pagination import CursorListPagination, parse_limit
from merchants.models import Merchant
from merchants.services import merchant_create


def _page(query: str):
    request = APIRequestFactory().get("/api/v1/things" + query)
    from rest_framework.request import Request

    paginator = CursorListPagination()
    page = paginator.paginate_queryset(Merchant.objects.all(), Request(request))
    return [merchant.name for merchant in page], paginator.has_more


@pytest.fixture
def five_merchants(db):
    return [merchant_create(name=f"m{index}") for index in range(5)]


def test_newest_first_with_has_more(five_merchants):
    names, has_more = _page("?limit=2")
    assert names == ["m4", "m3"] and has_more is True


def test_starting_after_and_ending_before(five_merchants):
    ids = [merchant.id for merchant in five_merchants]
    assert _page(f"?limit=2&starting_after={ids[3]}") == (["m2", "m1"], True)
    assert _page(f"?limit=10&starting_after={ids[1]}") == (["m0"], False)
    assert _page(f"?limit=2&ending_before={ids[1]}") == (["m3", "m2"], True)
    assert _page(f"?limit=10&ending_before={ids[2]}") == (["m4", "m3"], False)


@pytest.mark.parametrize("raw", ["0", "101", "-1", "ten", "1.5"])
def test_limit_out_of_range_is_refused(raw):
    with pytest.raises(InvalidRequestError) as caught:
        parse_limit(raw)
    assert caught.value.param == "limit"


def test_unknown_cursor_is_refused(five_merchants):
    with pytest.raises(InvalidRequestError) as caught:
        _page("?starting_after=mch_00000000000000000000000000")
    assert caught.value.code == "resource_missing"
