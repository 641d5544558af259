"""Every error under /api/ has the contract's shape: {"error": {"type", "code", "message", "param"}}."""

import json

import pytest
from django.test import Client, override_settings

from core.errors import CardError, DomainError, InvalidRequestError
from core.staff import StaffPermissionDenied
from edge.exception_handler import error_answer, error_kind
from ledger.errors import InsufficientBalance
from payments.errors import PaymentNotFound, PaymentOperationInProgress, ProcessorUnavailableError


def assert_error_shape(response, status: int, error_type: str, code: str | None = None):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = json.loads(response.content)
    assert set(body) == {"error"}
    error = body["error"]
    assert {"type", "code", "message", "param"} <= set(error)
    assert error["type"] == error_type
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code
    return error


def test_unknown_api_route_is_json_404(api_client):
    error = assert_error_shape(
        api_client.get("/api/v1/no-such-thing"), 404, "invalid_request_error", "resource_missing"
    )
    assert "/api/v1/no-such-thing" in error["message"]


def test_unknown_api_route_is_json_404_without_a_key_too(client):
    assert_error_shape(client.get("/api/nothing/here"), 404, "invalid_request_error", "resource_missing")


@override_settings(DEBUG=True)
def test_unknown_api_route_is_json_404_in_debug(client):
    assert_error_shape(client.get("/api/v1/missing"), 404, "invalid_request_error", "resource_missing")


@override_settings(ROOT_URLCONF="tests.edge.boom_urls")
def test_unexpected_exception_in_api_view_is_500_api_error_with_nothing_internal(api_client):
    error = assert_error_shape(api_client.get("/api/v1/test-boom"), 500, "api_error")
    assert "hunter2" not in error["message"] and "RuntimeError" not in error["message"]


@override_settings(ROOT_URLCONF="tests.edge.boom_urls", DEBUG=False)
def test_unexpected_exception_in_plain_api_view_is_500_api_error(db):
    client = Client(raise_request_exception=False)
    error = assert_error_shape(client.get("/api/test-plain-boom"), 500, "api_error")
    assert "secret" not in error["message"]


def test_non_api_404_stays_html(client, db):
    response = client.get("/not-an-api-path")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


def test_api_error_bodies_carry_extra_members():
    answer = error_answer(CardError("Your card was declined.", decline_code="insufficient_funds"))
    assert answer.status == 402
    assert answer.body == {
        "error": {
            "type": "card_error",
            "code": "card_declined",
            "message": "Your card was declined.",
            "param": None,
            "decline_code": "insufficient_funds",
        }
    }
    assert (
        error_answer(InvalidRequestError("x", code="amount_invalid", param="amount")).body["error"]["param"] == "amount"
    )


@pytest.mark.parametrize("method", ["put", "patch"])
def test_wrong_method_on_known_route_is_405_in_shape(api_client, method):
    response = getattr(api_client, method)("/api/v1/account", {}, format="json")
    assert_error_shape(response, 405, "invalid_request_error", "method_not_allowed")


def test_oversized_body_is_413_in_shape(api_client):
    body = json.dumps({"description": "x" * (1024 * 1024 + 10)})
    response = api_client.generic("POST", "/api/v1/payments", body, content_type="application/json")
    assert_error_shape(response, 413, "invalid_request_error", "body_too_large")


def _every_error_class(cls=DomainError):
    for subclass in cls.__subclasses__():
        yield subclass
        yield from _every_error_class(subclass)


def test_domain_errors_carry_no_http_and_the_edge_maps_every_one():
    import importlib

    for module in ("payments.errors", "ledger.errors", "events.errors", "reconciliation.errors", "backoffice.errors"):
        importlib.import_module(module)
    classes = list(_every_error_class())
    assert len(classes) > 20
    for cls in classes:
        assert not {"status_code", "error_type", "as_body"} & set(dir(cls)), cls
        assert error_kind(cls("x"))[0] in range(400, 600), cls


@pytest.mark.parametrize(
    ("error", "status", "error_type"),
    [
        (PaymentOperationInProgress("busy"), 409, "invalid_request_error"),
        (ProcessorUnavailableError("down"), 503, "api_error"),
        (StaffPermissionDenied("no"), 403, "permission_error"),
        (PaymentNotFound("none"), 404, "invalid_request_error"),
        (InsufficientBalance("short"), 400, "invalid_request_error"),
    ],
)
def test_an_apps_error_answers_with_its_kinds_status(error, status, error_type):
    answer = error_answer(error)
    assert (answer.status, answer.body["error"]["type"], answer.body["error"]["code"]) == (
        status,
        error_type,
        error.default_code,
    )
