"""A card number in any field is refused before anything is stored or logged."""

import logging

import pytest

from edge.models import IdempotencyKey
from payments.models import Payment
from tests.payments.helpers import error_of

pytestmark = pytest.mark.django_db

PAN = "4242424242424242"


@pytest.mark.parametrize(
    "body",
    [
        {"amount": 1999, "currency": "USD", "payment_method": {"type": "card", "token": PAN}},
        {"amount": 1999, "currency": "USD", "payment_method": {"type": "card", "number": PAN}},
        {
            "amount": 1999,
            "currency": "USD",
            "payment_method": {"type": "card", "token": "tok_visa"},
            "description": "card 4242 4242 4242 4242 exp 12/30",
        },
        {
            "amount": 1999,
            "currency": "USD",
            "payment_method": {"type": "card", "token": "tok_visa"},
            "metadata": {"note": "4000-0000-0000-0002"},
        },
        {
            "amount": 1999,
            "currency": "USD",
            "payment_method": {"type": "card", "token": "tok_visa"},
            "metadata": {"n": 4242424242424242},
        },
    ],
)
def test_card_numbers_are_refused_and_leave_no_trace(api_client, body, caplog):
    caplog.set_level(logging.DEBUG)
    response = api_client.post("/api/v1/payments", body, format="json", HTTP_IDEMPOTENCY_KEY="pan-key")
    assert response.status_code == 400
    error = error_of(response)
    assert (error["type"], error["code"]) == ("invalid_request_error", "pan_not_allowed")
    assert PAN not in response.content.decode() and "4242 4242" not in response.content.decode()
    assert Payment.objects.count() == 0 and IdempotencyKey.objects.count() == 0
    logged = "\n".join(record.getMessage() + str(record.args) for record in caplog.records)
    assert PAN not in logged and "4242 4242 4242 4242" not in logged and "4000-0000" not in logged


def test_card_number_in_the_query_string_or_key_is_refused(api_client):
    assert error_of(api_client.get(f"/api/v1/payments?q={PAN}"))["code"] == "pan_not_allowed"
    response = api_client.post("/api/v1/payments", {}, format="json", HTTP_IDEMPOTENCY_KEY=PAN)
    assert error_of(response)["code"] == "pan_not_allowed"
    assert IdempotencyKey.objects.count() == 0


def test_card_numbers_are_refused_even_without_a_key(client):
    response = client.post("/api/v1/payments", {"token": PAN}, content_type="application/json")
    assert response.status_code == 400 and error_of(response)["code"] == "pan_not_allowed"


def test_numbers_that_are_not_card_numbers_pass(api_client, sandbox):
    body = {
        "amount": 99_999_999_999,
        "currency": "USD",
        "payment_method": {"type": "card", "token": "tok_visa"},
        "metadata": {"order": "4242424242424241", "phone": "+1 415 555 0100"},
    }
    response = api_client.post("/api/v1/payments", body, format="json", HTTP_IDEMPOTENCY_KEY="ok")
    assert response.status_code == 201, response.content


# --- Issue 12, item 1: every written form of a card number, everywhere the API takes a string ------

NBSP = "\u00a0"
FULL_WIDTH = PAN.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
ESCAPED = "".join(f"\\u{ord(c):04x}" for c in PAN)  # as a JSON string's \u escapes, written in the raw body
WRITTEN_FORMS = {
    "dots": "4242.4242.4242.4242",
    "mixed separators": "4242 4242-4242.4242",
    "double separators": "4242  4242--4242 4242",
    "slashes": "4242/4242/4242/4242",
    "underscores": "4242_4242_4242_4242",
    "nbsp": NBSP.join(["4242"] * 4),
    "thin and zero-width spaces": "4242\u2009\u200b4242\u200b4242\u20094242",
    "full-width digits": FULL_WIDTH,
    "letters touching": f"abc{PAN}xyz",
    "glued to an expiry": f"{PAN}1230",
    "amex 4-6-5": "3782 822463 10005",
}


def _body(**fields) -> dict:
    return {"amount": 1999, "currency": "USD", "payment_method": {"type": "card", "token": "tok_visa"}, **fields}


def _assert_refused_without_trace(response, caplog):
    assert response.status_code == 400, response.content
    error = error_of(response)
    assert (error["type"], error["code"]) == ("invalid_request_error", "pan_not_allowed")
    assert "4242" not in response.content.decode() and "3782" not in response.content.decode()
    assert Payment.objects.count() == 0 and IdempotencyKey.objects.count() == 0
    logged = "\n".join(
        record.getMessage() + str(record.args) + str(record.__dict__.get("request", "")) for record in caplog.records
    )
    for digits in ("4242424242424242", "4242 4242", "42424242", "378282246310005", "3782 8224"):
        assert digits not in logged


@pytest.mark.parametrize("written", WRITTEN_FORMS.values(), ids=WRITTEN_FORMS.keys())
@pytest.mark.parametrize("where", ["description", "metadata value", "metadata key", "nested key"])
def test_every_written_form_in_every_body_field_is_refused(api_client, caplog, written, where):
    caplog.set_level(logging.DEBUG)
    body = {
        "description": _body(description=f"card {written} exp 12/30"),
        "metadata value": _body(metadata={"note": written}),
        "metadata key": _body(metadata={written: "x"}),
        "nested key": _body(payment_method={"type": "card", "token": "tok_visa", "extra": {written: {"a": 1}}}),
    }[where]
    response = api_client.post("/api/v1/payments", body, format="json", HTTP_IDEMPOTENCY_KEY="pan-key")
    _assert_refused_without_trace(response, caplog)


@pytest.mark.parametrize("in_key", [False, True], ids=["in a value", "in a key"])
def test_json_unicode_escapes_are_decoded_first(api_client, caplog, in_key):
    caplog.set_level(logging.DEBUG)
    raw = '{"amount": 1999, "currency": "USD", "payment_method": {"type": "card", "token": "tok_visa"}, ' + (
        '"metadata": {"' + ESCAPED + '": "x"}}' if in_key else '"metadata": {"n": "' + ESCAPED + '"}}'
    )
    assert "4242" not in raw
    response = api_client.post("/api/v1/payments", raw, content_type="application/json", HTTP_IDEMPOTENCY_KEY="pan-key")
    _assert_refused_without_trace(response, caplog)


def test_escaped_separators_and_surrogate_pair_digits_inside_json_strings(api_client, caplog):
    caplog.set_level(logging.DEBUG)
    bold = "".join(f"\\ud835\\u{0xDFCE + int(c):04x}" for c in PAN)  # 𝟒𝟐… (mathematical bold) as surrogate pairs
    for value in ["4242\\t4242\\t4242\\t4242", "4242\\/4242\\/4242\\/4242", bold]:
        raw = '{"amount": 1999, "currency": "USD", "description": "' + value + '"}'
        response = api_client.post(
            "/api/v1/payments", raw, content_type="application/json", HTTP_IDEMPOTENCY_KEY="pan-key"
        )
        _assert_refused_without_trace(response, caplog)


@pytest.mark.parametrize("charset", ["latin-1", "utf-16", "cp1252"])
def test_a_body_in_another_charset_is_decoded_with_it(api_client, caplog, charset):
    caplog.set_level(logging.DEBUG)
    text = '{"amount": 1999, "currency": "USD", "description": "' + NBSP.join(["4242"] * 4) + '"}'
    content_type = f"application/json; charset={charset}"
    response = api_client.post(
        "/api/v1/payments", text.encode(charset), content_type=content_type, HTTP_IDEMPOTENCY_KEY="pan-key"
    )
    _assert_refused_without_trace(response, caplog)


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        ('{"amount": 1999, "currency": "USD", "description": "café"}'.encode("latin-1"), "application/json"),
        (
            '{"amount": 1999, "currency": "USD", "description": "café"}'.encode("latin-1"),
            "application/json; charset=latin-1",
        ),
        (b'{"amount": 1999}', "application/json; charset=no-such-charset"),
    ],
    ids=["undeclared latin-1", "declared latin-1", "unknown charset"],
)
def test_a_body_that_is_not_utf8_is_refused_in_the_error_shape(api_client, raw, content_type):
    response = api_client.post("/api/v1/payments", raw, content_type=content_type, HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code in (400, 415)
    assert error_of(response)["type"] == "invalid_request_error"
    assert error_of(response)["code"] in ("body_invalid", "content_type_invalid")
    assert Payment.objects.count() == 0 and IdempotencyKey.objects.count() == 0


@pytest.mark.parametrize("written", WRITTEN_FORMS.values(), ids=WRITTEN_FORMS.keys())
def test_every_written_form_in_the_idempotency_key_is_refused(api_client, caplog, written):
    caplog.set_level(logging.DEBUG)
    # A header arrives as bytes that WSGI decodes as Latin-1: UTF-8 full-width digits come as mojibake.
    key = f"order-{written}".encode().decode("latin-1")
    response = api_client.post("/api/v1/payments", _body(), format="json", HTTP_IDEMPOTENCY_KEY=key)
    _assert_refused_without_trace(response, caplog)


@pytest.mark.parametrize("written", WRITTEN_FORMS.values(), ids=WRITTEN_FORMS.keys())
def test_every_written_form_in_the_query_string_is_refused(api_client, caplog, written):
    from urllib.parse import quote

    caplog.set_level(logging.DEBUG)
    response = api_client.get(f"/api/v1/payments?created[gte]=1&q={quote(written)}")
    assert error_of(response)["code"] == "pan_not_allowed"
    _assert_refused_without_trace(response, caplog)


@pytest.mark.parametrize("written", WRITTEN_FORMS.values(), ids=WRITTEN_FORMS.keys())
@pytest.mark.parametrize("method", ["get", "post"])
def test_a_card_number_in_the_url_path_is_refused_and_never_logged(api_client, caplog, written, method):
    from urllib.parse import quote

    caplog.set_level(logging.DEBUG)
    path = f"/api/v1/payments/{quote(written)}"
    response = getattr(api_client, method)(
        path, **({"format": "json", "HTTP_IDEMPOTENCY_KEY": "k"} if method == "post" else {})
    )
    _assert_refused_without_trace(response, caplog)


def test_a_card_number_in_a_path_outside_the_api_is_refused_and_never_logged(client, caplog):
    caplog.set_level(logging.DEBUG)
    response = client.get(f"/no-such-page/{PAN}/")
    assert response.status_code == 400
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert PAN not in logged and "42424242" not in logged


def test_a_card_number_in_a_webhook_url_is_refused(api_client, caplog):
    caplog.set_level(logging.DEBUG)
    for written in ("4242424242424242", "4242.4242.4242.4242", FULL_WIDTH):
        response = api_client.post(
            "/api/v1/webhook_endpoints",
            {"url": f"https://example.com/hooks/{written}", "enabled_events": ["*"]},
            format="json",
            HTTP_IDEMPOTENCY_KEY="we-key",
        )
        _assert_refused_without_trace(response, caplog)


def test_a_card_number_in_dispute_evidence_is_refused(api_client, caplog):
    caplog.set_level(logging.DEBUG)
    for written in ("4242 4242-4242.4242", f"card{PAN}", ESCAPED):
        raw = '{"uncategorized_text": "the customer paid with ' + written + '"}'
        response = api_client.post(
            "/api/v1/disputes/dp_01K00000000000000000000000/evidence",
            raw,
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="dp-key",
        )
        _assert_refused_without_trace(response, caplog)


def test_our_ids_and_uuid_keys_in_paths_queries_and_keys_pass(api_client, sandbox):
    import uuid

    for _ in range(20):
        response = api_client.post(
            "/api/v1/payments",
            _body(metadata={"ref": str(uuid.uuid4())}),
            format="json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        )
        assert response.status_code == 201, response.content
        payment_id = response.json()["id"]
        assert api_client.get(f"/api/v1/payments/{payment_id}").status_code == 200
    listed = api_client.get(f"/api/v1/payments?created[gte]=1700000000&starting_after={payment_id}")
    assert listed.status_code == 200, listed.content


# --- Escapes inside escapes: decoded in rounds until nothing changes (at most 4) -------------------

ENCODED_MORE_THAN_ONCE = {
    "percent-encoded twice": "".join(f"%25{ord(c):02X}" for c in PAN),
    "percent-encoded three times": "".join(f"%2525{ord(c):02X}" for c in PAN),
}


@pytest.mark.parametrize("written", ENCODED_MORE_THAN_ONCE.values(), ids=ENCODED_MORE_THAN_ONCE.keys())
def test_a_card_number_percent_encoded_more_than_once_in_a_body_field_is_refused(api_client, caplog, written):
    caplog.set_level(logging.DEBUG)
    response = api_client.post(
        "/api/v1/payments",
        _body(description=f"card {written}", metadata={"ref": written}),
        format="json",
        HTTP_IDEMPOTENCY_KEY="pan-key",
    )
    _assert_refused_without_trace(response, caplog)


@pytest.mark.parametrize("written", ENCODED_MORE_THAN_ONCE.values(), ids=ENCODED_MORE_THAN_ONCE.keys())
def test_a_card_number_percent_encoded_more_than_once_in_the_query_string_is_refused(api_client, caplog, written):
    from urllib.parse import quote

    caplog.set_level(logging.DEBUG)
    # As sent on the wire: the query string holds the value percent-encoded once more.
    response = api_client.get(f"/api/v1/payments?created[gte]=1&q={quote(written, safe='')}")
    assert error_of(response)["code"] == "pan_not_allowed"
    _assert_refused_without_trace(response, caplog)


@pytest.mark.parametrize("written", ENCODED_MORE_THAN_ONCE.values(), ids=ENCODED_MORE_THAN_ONCE.keys())
def test_a_card_number_percent_encoded_more_than_once_in_a_webhook_url_is_refused(api_client, caplog, written):
    from events.models import WebhookEndpoint

    caplog.set_level(logging.DEBUG)
    response = api_client.post(
        "/api/v1/webhook_endpoints",
        {"url": f"https://example.com/hooks/{written}", "enabled_events": ["*"]},
        format="json",
        HTTP_IDEMPOTENCY_KEY="we-key",
    )
    _assert_refused_without_trace(response, caplog)
    assert WebhookEndpoint.objects.count() == 0
