"""Bad input is a 4xx in the contract's shape, never a 500 (issue 12, item 2).

NUL bytes (PostgreSQL refuses them in text), lone surrogates (not encodable as UTF-8), JSON nested
thousands of levels deep (RecursionError), non-ASCII digits and out-of-range timestamps in
``created[…]``, paths and query strings at the server's limits, and oversized bodies.
"""

import json

import pytest
from django.test import Client

from core.errors import InvalidRequestError
from edge.parsers import MAX_JSON_DEPTH, loads_strict
from tests.conftest import requires_postgres
from tests.edge.test_errors import assert_error_shape

pytestmark = pytest.mark.django_db

PAYMENT_ID = "pay_01JD2W7Q3XK8Y2M4V9R5T6B7CZ"


def post_json(client, path: str, body: str | bytes, **headers):
    return client.generic(
        "POST", path, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="hygiene-1", **headers
    )


# --- NUL bytes and malformed ids in the path -------------------------------------------------

DETAIL_PATHS = [
    ("get", "/api/v1/payments/{}"),
    ("post", "/api/v1/payments/{}/confirm"),
    ("post", "/api/v1/payments/{}/capture"),
    ("post", "/api/v1/payments/{}/cancel"),
    ("get", "/api/v1/refunds/{}"),
    ("get", "/api/v1/disputes/{}"),
    ("post", "/api/v1/disputes/{}/evidence"),
    ("post", "/api/v1/disputes/{}/accept"),
    ("get", "/api/v1/events/{}"),
    ("get", "/api/v1/webhook_endpoints/{}"),
    ("delete", "/api/v1/webhook_endpoints/{}"),
    ("get", "/api/v1/balance_transactions/{}"),
]


@requires_postgres
@pytest.mark.parametrize("method,template", DETAIL_PATHS)
@pytest.mark.parametrize("bad_id", ["pay_%00", "pay_\x00", "%00", "x%00y", "pay_01JD2W7Q3XK8Y2M4V9R5T6B7C%00"])
def test_a_nul_byte_in_a_path_id_is_404_resource_missing(api_client, method, template, bad_id):
    path = template.format(bad_id)
    if method == "post":
        response = post_json(api_client, path, "{}")
    else:
        response = getattr(api_client, method)(path)
    error = assert_error_shape(response, 404, "invalid_request_error", "resource_missing")
    assert "\x00" not in error["message"]


@pytest.mark.parametrize(
    "bad_id", ["pay_" + "x" * 4000, "pay_01jd2w7q3xk8y2m4v9r5t6b7cz", "pay_01JD2W7Q3XK8Y2M4V9R5T6B7CZ0"]
)
def test_an_id_not_of_the_id_shape_is_404_and_not_echoed(api_client, bad_id):
    error = assert_error_shape(
        api_client.get(f"/api/v1/payments/{bad_id}"), 404, "invalid_request_error", "resource_missing"
    )
    assert bad_id not in error["message"] and error["param"] == "id"


def test_a_well_formed_unknown_id_is_still_404(api_client):
    assert_error_shape(
        api_client.get(f"/api/v1/payments/{PAYMENT_ID}"), 404, "invalid_request_error", "resource_missing"
    )


def test_a_malformed_id_without_a_key_is_401_first(client):
    assert_error_shape(client.get("/api/v1/payments/pay_%00"), 401, "authentication_error", "api_key_missing")


# --- NUL bytes in query filters ---------------------------------------------------------------


@requires_postgres
@pytest.mark.parametrize(
    "path,param",
    [
        ("/api/v1/refunds?payment=%00", "payment"),
        ("/api/v1/disputes?payment=pay_%00", "payment"),
        ("/api/v1/balance_transactions?source=%00", "source"),
        ("/api/v1/payments?starting_after=%00", "starting_after"),
        ("/api/v1/events?ending_before=evt_%00", "ending_before"),
        ("/api/v1/payments?status=%00", "status"),
        ("/api/v1/payments?created[gte]=%00", "created[gte]"),
        ("/api/v1/payments?%00=1", None),
    ],
)
def test_a_nul_byte_in_a_query_parameter_is_400_parameter_invalid(api_client, path, param):
    error = assert_error_shape(api_client.get(path), 400, "invalid_request_error", "parameter_invalid")
    if param is not None:
        assert error["param"] == param


def test_too_many_query_parameters_is_400_in_shape(api_client):
    # Django refuses more than DATA_UPLOAD_MAX_NUMBER_FIELDS (1000) fields; 1001 fit in one request line.
    response = api_client.get("/api/v1/payments?" + "a&" * 1001)
    assert_error_shape(response, 400, "invalid_request_error", "parameter_invalid")


# --- created[…] ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "²",
        "%C2%B2",
        "%D9%A3",
        "１７００００００００",  # superscript, Arabic-Indic and full-width digits
        "99999999999999999999",
        "253402300800",
        "-1",
        "1e9",
        " 1700000000",
        "9999-12-31T23:59:59-14:00",  # after year 9999 once in UTC
        "0001-01-01T00:00:00%2B14:00",  # before year 1 once in UTC
        "2024-13-01T00:00:00Z",
        "2024-01-01T24:00:00Z",
        "2024-06-30T23:59:60Z",
        "yesterday",
    ],
)
@pytest.mark.parametrize("operator", ["gt", "gte", "lt", "lte"])
def test_a_bad_created_filter_is_400_parameter_invalid(api_client, raw, operator):
    response = api_client.get(f"/api/v1/payments?created[{operator}]={raw}")
    error = assert_error_shape(response, 400, "invalid_request_error", "parameter_invalid")
    assert error["param"] == f"created[{operator}]"


@pytest.mark.parametrize(
    "raw",
    [
        "0",
        "1700000000",
        "253402300799",
        "2024-01-01T00:00:00Z",
        "2024-01-01T00:00:00%2B05:30",
        "2024-01-01T00:00:00",
        "2024-01-01T00:00:00.123456Z",
        "9999-12-31T23:59:59Z",
    ],
)
def test_good_created_filters_still_work(api_client, raw):
    for path in ("payments", "refunds", "disputes", "events", "balance_transactions"):
        response = api_client.get(f"/api/v1/{path}?created[gte]={raw}&created[lt]={raw}")
        assert response.status_code == 200, (path, raw, response.content)


# --- Bodies: NUL bytes, lone surrogates, nesting, encoding ------------------------------------

CARD = '"payment_method": {"type": "card", "token": "tok_visa"}'


@pytest.mark.parametrize(
    "path,body,param",
    [
        (
            "/api/v1/payments",
            '{"amount": 100, "currency": "USD", "description": "a\\u0000b", ' + CARD + "}",
            "description",
        ),
        (
            "/api/v1/payments",
            '{"amount": 100, "currency": "USD", "metadata": {"k": "\\u0000"}, ' + CARD + "}",
            "metadata[k]",
        ),
        (
            "/api/v1/payments",
            '{"amount": 100, "currency": "USD", "metadata": {"\\u0000": "v"}, ' + CARD + "}",
            "metadata",
        ),
        ("/api/v1/payments", '{"amount": 100, "currency": "U\\u0000SD", ' + CARD + "}", "currency"),
        (
            "/api/v1/payments",
            '{"amount": 100, "currency": "USD", "payment_method": {"type": "card", "token": "tok_\\u0000"}}',
            "payment_method[token]",
        ),
        ("/api/v1/refunds", '{"payment": "pay_\\u0000"}', "payment"),
        ("/api/v1/webhook_endpoints", '{"url": "https://example.com/\\u0000"}', "url"),
        ("/api/v1/webhook_endpoints", '{"url": "https://example.com/", "events": ["\\u0000"]}', "events[0]"),
    ],
)
@pytest.mark.parametrize("bad", ["\\u0000", "\\ud800", "\\udfff", "\\ud83d"])
def test_nul_and_lone_surrogates_in_a_body_are_400_parameter_invalid(api_client, path, body, param, bad):
    response = post_json(api_client, path, body.replace("\\u0000", bad))
    error = assert_error_shape(response, 400, "invalid_request_error", "parameter_invalid")
    assert error["param"] == param


@pytest.mark.parametrize(
    "body",
    [
        b'{"description": "a\x00b"}',  # a raw NUL byte inside a string is not JSON either
        b'{"description": "\xed\xa0\x80"}',  # a UTF-8-encoded surrogate: not UTF-8
        b'{"description": "\xff"}',
        b'\xef\xbb\xbf{"amount": 100}',  # a BOM
        b'{"amount": NaN}',
        b'{"amount": 100, "amount": 200}',  # a key twice: which one would the card guard have read?
    ],
)
def test_bytes_that_are_not_strict_json_are_400_body_invalid(api_client, body):
    assert_error_shape(post_json(api_client, "/api/v1/payments", body), 400, "invalid_request_error", "body_invalid")


def test_a_number_of_more_digits_than_python_converts_is_body_invalid():
    # Through the API the card-number guard refuses so long a run of digits first.
    with pytest.raises(InvalidRequestError) as refused:
        loads_strict(b'{"amount": 1' + b"0" * 5000 + b"}")
    assert refused.value.code == "body_invalid"


@pytest.mark.parametrize("opening,closing", [("[", "]"), ('{"a":', "}"), ('{"metadata":', "}")])
@pytest.mark.parametrize("levels", [2000, 990, 500, 33])
def test_json_nested_2000_levels_is_400_body_invalid(api_client, opening, closing, levels):
    body = opening * levels + "1" + closing * levels  # about 12 KB for 2 000
    error = assert_error_shape(
        post_json(api_client, "/api/v1/payments", body), 400, "invalid_request_error", "body_invalid"
    )
    assert str(MAX_JSON_DEPTH) in error["message"]


def test_nesting_is_counted_outside_strings_only(api_client):
    deep_text = "[" * 100 + '\\"{' * 100
    body = json.dumps({"amount": 100, "currency": "USD", "description": deep_text, "payment_method": {"type": "x"}})
    response = post_json(api_client, "/api/v1/payments", body)
    assert_error_shape(response, 400, "invalid_request_error", "parameter_invalid")
    assert response.json()["error"]["param"] == "payment_method[type]"


def test_nesting_up_to_the_limit_is_parsed(api_client):
    body = '{"metadata":' * (MAX_JSON_DEPTH - 1) + "{}" + "}" * (MAX_JSON_DEPTH - 1)
    response = post_json(api_client, "/api/v1/payments", body)
    # Parsed (so validated): the deep metadata is the problem, not the nesting.
    assert_error_shape(response, 400, "invalid_request_error", "parameter_missing")
    over = '{"metadata":' * MAX_JSON_DEPTH + "{}" + "}" * MAX_JSON_DEPTH
    assert_error_shape(post_json(api_client, "/api/v1/payments", over), 400, "invalid_request_error", "body_invalid")


@pytest.mark.parametrize("charset", ["latin-1", "utf-16", "cp1252", "no-such-charset"])
def test_a_body_in_another_charset_is_415(api_client, charset):
    response = api_client.generic(
        "POST",
        "/api/v1/payments",
        b'{"amount": 100}',
        content_type=f"application/json; charset={charset}",
        HTTP_IDEMPOTENCY_KEY="hygiene-2",
    )
    assert_error_shape(response, 415, "invalid_request_error", "content_type_invalid")


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", "utf8"])
def test_a_utf8_charset_is_accepted(api_client, charset):
    response = api_client.generic(
        "POST",
        "/api/v1/payments",
        b"{}",
        content_type=f"application/json; charset={charset}",
        HTTP_IDEMPOTENCY_KEY="hygiene-3",
    )
    assert_error_shape(response, 400, "invalid_request_error", "parameter_missing")


def test_an_unknown_body_field_is_400_parameter_unknown(api_client):
    body = '{"amount": 100, "currency": "USD", "surprise": 1, ' + CARD + "}"
    error = assert_error_shape(
        post_json(api_client, "/api/v1/payments", body), 400, "invalid_request_error", "parameter_unknown"
    )
    assert error["param"] == "surprise"


# --- Headers ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["Bearer sk_test_\xff\xfe", "Bearer sk_test_\x00", "Bearer \x7f", "\xff"])
def test_invalid_bytes_in_the_authorization_header_are_401(client, value):
    response = client.get("/api/v1/payments", HTTP_AUTHORIZATION=value)
    assert_error_shape(response, 401, "authentication_error", "api_key_invalid")


@pytest.mark.parametrize("value", ["key-\xff", "key-\x00", "key\x7f", "ключ"])
def test_invalid_bytes_in_the_idempotency_key_are_400(api_client, value):
    response = api_client.generic(
        "POST",
        "/api/v1/webhook_endpoints",
        b'{"url": "https://example.com/hooks"}',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=value,
    )
    assert_error_shape(response, 400, "invalid_request_error", "idempotency_key_invalid")


def test_an_invalid_byte_in_another_header_is_ignored(api_client):
    assert api_client.get("/api/v1/payments", HTTP_X_NOTHING="\xff\x00").status_code == 200


# --- Sizes ----------------------------------------------------------------------------------------


def test_a_very_long_api_path_is_404_in_shape(api_client):
    assert_error_shape(api_client.get("/api/v1/" + "a" * 4000), 404, "invalid_request_error", "resource_missing")


def test_an_oversized_processor_webhook_is_413_in_shape(db):
    body = b'{"id": "evt_x", "pad": "' + b"x" * (1024 * 1024) + b'"}'
    response = Client().post("/webhooks/processor/sandbox/", body, content_type="application/json")
    assert_error_shape(response, 413, "invalid_request_error", "body_too_large")


def test_an_oversized_api_body_without_a_key_is_413_too(db):
    body = json.dumps({"description": "x" * (1024 * 1024)})
    response = Client().post("/api/v1/payments", body, content_type="application/json")
    assert_error_shape(response, 413, "invalid_request_error", "body_too_large")


def test_a_bad_request_outside_a_view_is_400_in_shape_for_the_api(db):
    # DisallowedHost is raised by Django itself (SuspiciousOperation): handler400.
    response = Client(HTTP_HOST="evil.example").get("/api/v1/payments")
    assert_error_shape(response, 400, "invalid_request_error")
