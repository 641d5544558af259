"""The OpenAPI document says exactly what the API accepts and answers (issue 12, item 2)."""

import pytest
import yaml
from django.core.management import call_command

from edge.filters import MAX_TIMESTAMP
from events.models import EventType
from payments.models import DisputeStatus, PaymentStatus, RefundStatus


@pytest.fixture(scope="module")
def schema(tmp_path_factory):
    path = tmp_path_factory.mktemp("schema") / "schema.yaml"
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(path))
    return yaml.safe_load(path.read_text())


def operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def parameter(operation, name):
    return next(p for p in operation["parameters"] if p["name"] == name)


def test_every_authenticated_operation_documents_401_400_and_429(schema):
    for path, method, operation in operations(schema):
        assert operation.get("security"), (method, path)
        assert {"400", "401", "429"} <= set(operation["responses"]), (method, path)


def test_every_post_documents_its_idempotency_header_and_errors(schema):
    for path, method, operation in operations(schema):
        if method != "post":
            continue
        header = parameter(operation, "Idempotency-Key")
        assert header["in"] == "header" and header["required"] is True
        assert header["schema"]["pattern"] == r"^[\x20-\x7E]{1,255}$"
        assert {"409", "413", "415", "422"} <= set(operation["responses"]), path


def test_gets_do_not_document_errors_they_cannot_give(schema):
    for path, method, operation in operations(schema):
        if method == "get":
            assert not {"402", "409", "413", "415", "422", "503"} & set(operation["responses"]), path


def test_402_and_503_where_they_occur(schema):
    by_id = {operation["operationId"]: operation for _path, _method, operation in operations(schema)}
    for operation_id in ("payments_create", "payments_confirm", "payments_capture", "payments_cancel"):
        assert {"402", "503"} <= set(by_id[operation_id]["responses"])
    for operation_id in ("disputes_submit_evidence", "disputes_accept", "external_accounts_create"):
        assert "503" in by_id[operation_id]["responses"]
    assert "404" in by_id["refunds_create"]["responses"]


def test_path_ids_have_their_objects_shape(schema):
    prefixes = {
        "payment_id": "pay",
        "refund_id": "re",
        "dispute_id": "dp",
        "event_id": "evt",
        "endpoint_id": "we",
        "transaction_id": "txn",
        "external_account_id": "ea",
        "payout_id": "po",
        "session_id": "cs",
    }
    seen = set()
    for path, _method, operation in operations(schema):
        for p in operation["parameters"]:
            if p["in"] == "path":
                assert p["schema"]["pattern"] == f"^{prefixes[p['name']]}_[0123456789ABCDEFGHJKMNPQRSTVWXYZ]{{26}}$"
                seen.add(p["name"])
        assert "404" in operation["responses"] or "{" not in path
    assert seen == set(prefixes)


def test_list_filters_have_enums_and_formats(schema):
    lists = {operation["operationId"]: operation for _p, method, operation in operations(schema) if method == "get"}
    assert parameter(lists["payments_list"], "status")["schema"]["enum"] == sorted(PaymentStatus.values)
    assert parameter(lists["refunds_list"], "status")["schema"]["enum"] == sorted(RefundStatus.values)
    assert parameter(lists["disputes_list"], "status")["schema"]["enum"] == sorted(DisputeStatus.values)
    assert set(EventType.values) | {"payment.*", "refund.*", "dispute.*", "payout.*", "checkout.*"} == set(
        parameter(lists["events_list"], "type")["schema"]["enum"]
    )
    assert parameter(lists["checkout_sessions_list"], "status")["schema"]["enum"] == ["complete", "expired", "open"]
    lists_with_created = ("payments_list", "refunds_list", "disputes_list", "events_list", "balance_transactions_list")
    for operation_id in (*lists_with_created, "checkout_sessions_list"):
        for operator in ("gt", "gte", "lt", "lte"):
            created = parameter(lists[operation_id], f"created[{operator}]")["schema"]
            assert created == {
                "anyOf": [
                    {"type": "integer", "minimum": 0, "maximum": MAX_TIMESTAMP},
                    {"type": "string", "format": "date-time"},
                ]
            }
    for operation_id, operation in lists.items():
        if operation_id.endswith("_list"):
            assert parameter(operation, "limit")["schema"] == {"type": "integer", "minimum": 1, "maximum": 100}
            assert parameter(operation, "starting_after") and parameter(operation, "ending_before")


def test_request_bodies_refuse_unknown_fields(schema):
    components = schema["components"]["schemas"]
    bodies = [name for name in components if name.endswith("Request")]
    assert "PaymentCreateInputRequest" in bodies and "BankAccountInputRequest" in bodies
    for name in bodies:
        assert components[name]["additionalProperties"] is False, name


def test_the_error_type_is_an_enum(schema):
    error = schema["components"]["schemas"]["ErrorDetail"]
    assert set(error["properties"]["type"]["enum"]) == {
        "invalid_request_error",
        "authentication_error",
        "card_error",
        "idempotency_error",
        "rate_limit_error",
        "api_error",
    }
    assert "Input limits" in schema["info"]["description"]
