"""External accounts (issue 15): where a merchant's payouts go. Through the real API against the sandbox
processor: tokenised, one default per currency, idempotent, validated field by field, soft-deleted, isolated
per merchant, and never holding the account number or IBAN."""

import logging
import threading
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction

from core.models import AuditEntry
from edge.models import IdempotencyKey
from payments.models import RoutingRule
from payouts import services
from payouts.models import ExternalAccount
from tests.conftest import requires_postgres
from tests.payments.helpers import error_of, post
from tests.processors import configure_processor
from tests.staff import PASSWORD, client_for

URL = "/api/v1/external_accounts"
# Distinctive digits, so that finding them anywhere means they were kept.
ACCOUNT_NUMBER = "000987654321"
US = {"country": "US", "holder_name": "Jane Doe", "routing_number": "110000000", "account_number": ACCOUNT_NUMBER}
US_OTHER = {**US, "account_number": "000555566667"}
IBAN = "DE89370400440532013000"
DE = {"country": "DE", "holder_name": "Erika Mustermann", "iban": "de89 3704 0044 0532 0130 00"}


def usd(account: dict | None = None, **fields) -> dict:
    return {"currency": "USD", "bank_account": account or US, **fields}


def eur(**fields) -> dict:
    return {"currency": "EUR", "bank_account": DE, **fields}


def create(client, body: dict, **kwargs):
    return post(client, URL, body, **kwargs)


def defaults(merchant, currency: str) -> list[str]:
    return list(
        ExternalAccount.objects.filter(merchant=merchant, currency=currency, default_for_currency=True).values_list(
            "id", flat=True
        )
    )


# --- The happy paths ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_us_account_is_tokenised_and_becomes_the_usd_default(api_client, merchant, sandbox):
    response = create(api_client, usd())
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {
        "id",
        "object",
        "currency",
        "country",
        "last4",
        "fingerprint",
        "bank_name",
        "default_for_currency",
        "created",
    }
    assert body["id"].startswith("ea_") and body["object"] == "external_account"
    assert (body["currency"], body["country"], body["last4"]) == ("USD", "US", "4321")
    assert body["bank_name"] == "Sandbox Test Bank" and body["fingerprint"]
    assert body["default_for_currency"] is True and body["created"].endswith("Z")
    account = ExternalAccount.objects.get(pk=body["id"])
    assert account.merchant == merchant and account.processor == "sandbox"
    assert account.processor_token.startswith("ba_")
    assert api_client.get(f"{URL}/{body['id']}").json() == body
    listed = api_client.get(URL).json()
    assert listed["object"] == "list" and listed["has_more"] is False and listed["data"] == [body]
    entry = AuditEntry.objects.get(object_id=body["id"])
    assert entry.action == "external_account.create" and entry.actor.startswith("api:key_")
    assert "processor_token" not in entry.after and entry.after["last4"] == "4321"


@pytest.mark.django_db
def test_a_sepa_account_is_the_eur_default_beside_the_usd_one(api_client, merchant, sandbox):
    us = create(api_client, usd()).json()
    response = create(api_client, eur())
    assert response.status_code == 201, response.content
    de = response.json()
    assert (de["currency"], de["country"], de["last4"], de["default_for_currency"]) == ("EUR", "DE", "3000", True)
    assert defaults(merchant, "USD") == [us["id"]] and defaults(merchant, "EUR") == [de["id"]]
    assert [a["id"] for a in api_client.get(URL, {"currency": "EUR"}).json()["data"]] == [de["id"]]
    assert [a["id"] for a in api_client.get(URL).json()["data"]] == [de["id"], us["id"]]


@pytest.mark.django_db
def test_the_same_account_twice_has_the_same_fingerprint(api_client, sandbox):
    first, second = create(api_client, usd()).json(), create(api_client, usd()).json()
    assert first["id"] != second["id"] and first["fingerprint"] == second["fingerprint"]
    assert create(api_client, usd(US_OTHER)).json()["fingerprint"] != first["fingerprint"]


@pytest.mark.django_db
def test_the_account_is_tokenised_where_the_merchants_bank_transfers_are_routed(
    api_client, merchant, sandbox, sandbox_eu
):
    RoutingRule.objects.create(priority=1, currency="EUR", payment_method_type="bank_transfer", processor="sandbox_eu")
    assert create(api_client, eur()).status_code == 201
    assert create(api_client, usd()).status_code == 201
    processors = dict(ExternalAccount.objects.values_list("currency", "processor"))
    assert processors == {"EUR": "sandbox_eu", "USD": "sandbox"}


# --- One default per merchant and currency --------------------------------------------------------


@pytest.mark.django_db
def test_a_later_account_is_not_the_default_unless_asked_and_asking_moves_it(api_client, merchant, sandbox):
    first = create(api_client, usd()).json()
    second = create(api_client, usd(US_OTHER)).json()
    assert second["default_for_currency"] is False
    # Asking for false on the first account of a currency does not leave the currency without a default.
    assert create(api_client, eur(default_for_currency=False)).json()["default_for_currency"] is True

    third = create(api_client, usd(default_for_currency=True)).json()
    assert third["default_for_currency"] is True
    assert defaults(merchant, "USD") == [third["id"]]
    assert api_client.get(f"{URL}/{first['id']}").json()["default_for_currency"] is False

    # An existing account is made the default by updating it.
    response = post(api_client, f"{URL}/{second['id']}", {"default_for_currency": True})
    assert response.status_code == 200, response.content
    assert response.json()["default_for_currency"] is True
    assert defaults(merchant, "USD") == [second["id"]]
    assert AuditEntry.objects.filter(object_id=second["id"], action="external_account.make_default").count() == 1
    # Making the default the default again changes nothing.
    assert post(api_client, f"{URL}/{second['id']}", {"default_for_currency": True}).status_code == 200
    assert defaults(merchant, "USD") == [second["id"]]


@pytest.mark.django_db
def test_the_update_takes_only_default_for_currency_true(api_client, sandbox):
    account = create(api_client, usd()).json()
    for body, param, code in [
        ({"default_for_currency": False}, "default_for_currency", "parameter_invalid"),
        ({"default_for_currency": "true"}, "default_for_currency", "parameter_invalid"),
        ({}, "default_for_currency", "parameter_missing"),
        ({"default_for_currency": True, "currency": "EUR"}, "currency", "parameter_unknown"),
    ]:
        response = post(api_client, f"{URL}/{account['id']}", body)
        assert response.status_code == 400, body
        assert (error_of(response)["param"], error_of(response)["code"]) == (param, code)


@pytest.mark.django_db
def test_the_database_refuses_a_second_default(merchant, sandbox, api_client):
    first, second = create(api_client, usd()).json(), create(api_client, usd(US_OTHER)).json()
    assert defaults(merchant, "USD") == [first["id"]]
    with pytest.raises(IntegrityError), transaction.atomic():
        ExternalAccount.objects.filter(pk=second["id"]).update(default_for_currency=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        ExternalAccount.objects.filter(pk=first["id"]).update(deleted_at="2026-01-01T00:00:00Z")


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_default_switches_leave_exactly_one_default(merchant, sandbox, api_client):
    accounts = [create(api_client, usd(US_OTHER if i % 2 else US)).json()["id"] for i in range(6)]
    tokenized = services.external_account_tokenize(merchant=merchant, currency="USD", bank_account=US)
    start = threading.Barrier(8)
    errors = []

    def run(work):
        try:
            start.wait(timeout=30)
            work()
        except Exception as error:  # noqa: BLE001 - collected and asserted on below
            errors.append(error)
        finally:
            connection.close()

    def switch(account_id):
        return lambda: services.external_account_make_default(
            merchant=merchant, external_account_id=account_id, actor="test"
        )

    def create_default():
        services.external_account_create(
            merchant=merchant, currency="USD", tokenized=tokenized, default_for_currency=True, actor="test"
        )

    # Given six accounts, when six switches to six different accounts and two creations of a new default
    # all run at once,
    work = [switch(account_id) for account_id in accounts] + [create_default, create_default]
    threads = [threading.Thread(target=run, args=(w,)) for w in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # then every one of them succeeds, one after the other, and exactly one account is the default.
    assert errors == []
    assert ExternalAccount.objects.filter(merchant=merchant).count() == 8
    assert len(defaults(merchant, "USD")) == 1
    assert AuditEntry.objects.filter(action="external_account.make_default").count() >= 5


# --- Idempotency ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_retry_with_the_same_key_replays_the_answer_and_makes_one_account(api_client, merchant, sandbox):
    key = str(uuid.uuid4())
    first = create(api_client, usd(), key=key)
    again = create(api_client, usd(), key=key)
    assert first.status_code == again.status_code == 201
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    assert ExternalAccount.objects.filter(merchant=merchant).count() == 1
    # The same key for another request is refused, and writes nothing.
    reused = create(api_client, eur(), key=key)
    assert reused.status_code == 422 and error_of(reused)["code"] == "idempotency_key_reused"
    assert ExternalAccount.objects.filter(merchant=merchant).count() == 1


@pytest.mark.django_db
def test_a_request_whose_answer_was_lost_is_answered_with_the_account_it_made(api_client, merchant, sandbox):
    key = str(uuid.uuid4())
    body = create(api_client, usd(), key=key).json()
    # As if the process died after the account's transaction committed, before the answer was stored:
    # the key is left at ``intent_recorded``, unlocked.
    IdempotencyKey.objects.filter(merchant=merchant, key=key).update(
        status="in_progress", recovery_point="intent_recorded", response_status=None, response_body=None, locked_at=None
    )
    retry = create(api_client, usd(), key=key)
    assert retry.status_code == 201 and retry.json() == body
    assert ExternalAccount.objects.filter(merchant=merchant).count() == 1


@pytest.mark.django_db
def test_a_key_pruned_and_sent_again_never_hands_back_the_earlier_account(api_client, merchant, sandbox):
    key = str(uuid.uuid4())
    create(api_client, usd(), key=key)
    IdempotencyKey.objects.filter(merchant=merchant, key=key).delete()  # pruned after 24 hours
    response = create(api_client, usd(), key=key)
    assert response.status_code == 422 and error_of(response)["code"] == "idempotency_key_reused"
    assert ExternalAccount.objects.filter(merchant=merchant).count() == 1


@pytest.mark.django_db
def test_a_processor_that_cannot_be_reached_is_a_503_that_writes_nothing(api_client, merchant, sandbox, settings):
    key = str(uuid.uuid4())
    configure_processor(settings, base_url="http://127.0.0.1:9")
    response = create(api_client, usd(), key=key)
    assert response.status_code == 503 and error_of(response)["code"] == "processor_unavailable"
    assert not ExternalAccount.objects.exists() and not IdempotencyKey.objects.filter(key=key).exists()
    configure_processor(settings, base_url=sandbox.base_url)
    assert create(api_client, usd(), key=key).status_code == 201


# --- Bad details: a 400 naming the field, nothing written -------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        (usd({**US, "routing_number": "110000001"}), "bank_account[routing_number]", "bank_account_invalid"),
        (usd({**US, "account_number": "12ab"}), "bank_account[account_number]", "bank_account_invalid"),
        (usd({**US, "account_number": "123"}), "bank_account[account_number]", "bank_account_invalid"),
        (eur(bank_account={**DE, "iban": "DE89370400440532013001"}), "bank_account[iban]", "bank_account_invalid"),
        (eur(bank_account={**DE, "iban": "DE8937040044053201300"}), "bank_account[iban]", "bank_account_invalid"),
        (eur(bank_account={**DE, "country": "FR"}), "bank_account[iban]", "bank_account_invalid"),
        (usd({**US, "country": "XX"}), "bank_account[country]", "bank_account_invalid"),
        (usd({**US, "holder_name": ""}), "bank_account[holder_name]", "parameter_invalid"),
        (usd({k: v for k, v in US.items() if k != "holder_name"}), "bank_account[holder_name]", "parameter_missing"),
        (usd({**US, "account_number": 987654321}), "bank_account[account_number]", "parameter_invalid"),
        (usd({**US, "iban": IBAN}), "bank_account[iban]", "bank_account_invalid"),
        (usd({**US, "bank": "x"}), "bank_account[bank]", "parameter_unknown"),
        (usd(DE), "bank_account[country]", "bank_account_invalid"),
        (eur(bank_account=US), "bank_account[country]", "bank_account_invalid"),
        ({"currency": "GBP", "bank_account": DE}, "currency", "currency_not_supported"),
        ({"currency": "XYZ", "bank_account": US}, "currency", "currency_invalid"),
        ({"bank_account": US}, "currency", "parameter_missing"),
        ({"currency": "USD"}, "bank_account", "parameter_missing"),
        (usd(default_for_currency="true"), "default_for_currency", "parameter_invalid"),
        (usd(metadata={}), "metadata", "parameter_unknown"),
    ],
)
def test_bad_details_are_a_400_naming_the_field_and_write_nothing(api_client, sandbox, body, param, code, caplog):
    key = str(uuid.uuid4())
    with caplog.at_level(logging.DEBUG):
        response = create(api_client, body, key=key)
    assert response.status_code == 400, response.content
    error = error_of(response)
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)
    assert not ExternalAccount.objects.exists() and not IdempotencyKey.objects.filter(key=key).exists()
    for secret in (ACCOUNT_NUMBER, "0532013000", "0532013001"):
        assert secret not in response.content.decode() and secret not in caplog.text


# --- Nothing but the token and a description is kept -----------------------------------------------


def _every_cell_of_every_table() -> str:
    """The whole database as text: every cell of every table the platform's models and Django's own have."""
    texts = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 - names from the schema
            for row in cursor.fetchall():
                texts.extend(
                    bytes(cell).decode(errors="replace") if isinstance(cell, memoryview) else str(cell) for cell in row
                )
    return "\n".join(texts)


@pytest.mark.django_db
def test_no_account_number_or_iban_is_kept_anywhere(api_client, merchant, sandbox, caplog):
    key = str(uuid.uuid4())
    with caplog.at_level(logging.DEBUG):
        us = create(api_client, usd(), key=key).json()
        create(api_client, usd(), key=key)  # the replay
        de = create(api_client, eur()).json()
        create(api_client, usd({**US, "routing_number": "110000001"}))  # refused
        create(api_client, usd(US_OTHER, default_for_currency=True))
        api_client.delete(f"{URL}/{us['id']}")
    assert (us["last4"], de["last4"]) == ("4321", "3000")
    stored = _every_cell_of_every_table()
    assert us["id"] in stored and de["id"] in stored and "4321" in stored  # the dump does hold the accounts
    for secret in (ACCOUNT_NUMBER, "987654321", "000555566667", IBAN, "370400440532013000", "0532013000"):
        assert secret not in stored, secret
        assert secret not in caplog.text, secret


# --- Soft delete ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_deleted_account_is_neither_listed_nor_fetched_but_its_row_stays(api_client, merchant, sandbox):
    default = create(api_client, usd()).json()
    other = create(api_client, usd(US_OTHER)).json()
    response = api_client.delete(f"{URL}/{other['id']}")
    assert response.status_code == 200
    assert response.json() == {"id": other["id"], "object": "external_account", "deleted": True}
    assert [a["id"] for a in api_client.get(URL).json()["data"]] == [default["id"]]
    for answer in (api_client.get(f"{URL}/{other['id']}"), api_client.delete(f"{URL}/{other['id']}")):
        assert answer.status_code == 404 and error_of(answer)["code"] == "resource_missing"
    missing = post(api_client, f"{URL}/{other['id']}", {"default_for_currency": True})
    assert missing.status_code == 404
    row = ExternalAccount.objects.get(pk=other["id"])
    assert row.deleted_at is not None and row.processor_token.startswith("ba_")
    assert AuditEntry.objects.filter(object_id=other["id"], action="external_account.delete").count() == 1


@pytest.mark.django_db
def test_the_default_cannot_be_deleted_while_its_currency_has_other_accounts(api_client, merchant, sandbox):
    default = create(api_client, usd()).json()
    other = create(api_client, usd(US_OTHER)).json()
    response = api_client.delete(f"{URL}/{default['id']}")
    assert response.status_code == 400
    assert (error_of(response)["code"], error_of(response)["param"]) == ("external_account_is_default", "id")
    assert defaults(merchant, "USD") == [default["id"]]
    assert not ExternalAccount.objects.filter(deleted_at__isnull=False).exists()

    # Make the other one the default, then the first may go; the last account of a currency may go too.
    assert post(api_client, f"{URL}/{other['id']}", {"default_for_currency": True}).status_code == 200
    assert api_client.delete(f"{URL}/{default['id']}").status_code == 200
    assert api_client.delete(f"{URL}/{other['id']}").status_code == 200
    assert defaults(merchant, "USD") == [] and api_client.get(URL).json()["data"] == []
    # The currency's next account is its default again.
    assert create(api_client, usd()).json()["default_for_currency"] is True


# --- Tenant isolation -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_another_merchants_account_is_a_404_everywhere(api_client, other_api_client, merchant, sandbox):
    mine = create(api_client, usd()).json()
    theirs = create(other_api_client, usd()).json()
    assert theirs["default_for_currency"] is True  # each merchant has its own default
    for response in (
        api_client.get(f"{URL}/{theirs['id']}"),
        api_client.delete(f"{URL}/{theirs['id']}"),
        post(api_client, f"{URL}/{theirs['id']}", {"default_for_currency": True}),
    ):
        assert response.status_code == 404 and error_of(response)["code"] == "resource_missing"
    assert [a["id"] for a in api_client.get(URL).json()["data"]] == [mine["id"]]
    cursor = api_client.get(URL, {"starting_after": theirs["id"]})
    assert cursor.status_code == 400 and error_of(cursor)["code"] == "resource_missing"
    assert ExternalAccount.objects.get(pk=theirs["id"]).deleted_at is None


@pytest.mark.django_db
def test_the_list_pages_and_filters(api_client, sandbox):
    ids = [create(api_client, usd()).json()["id"] for _ in range(3)]
    page = api_client.get(URL, {"limit": 2}).json()
    assert [a["id"] for a in page["data"]] == ids[:0:-1] and page["has_more"] is True
    rest = api_client.get(URL, {"limit": 2, "starting_after": ids[1]}).json()
    assert [a["id"] for a in rest["data"]] == [ids[0]] and rest["has_more"] is False
    assert api_client.get(URL, {"currency": "EUR"}).json()["data"] == []
    for bad in ("usd", "XYZ", ""):
        response = api_client.get(URL, {"currency": bad})
        assert response.status_code == 400 and error_of(response)["param"] == "currency"
    assert api_client.get(f"{URL}/ea_nope").status_code == 404


# --- The back office ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_staff_see_a_read_only_list_without_the_token(api_client, sandbox):
    account = ExternalAccount.objects.get(pk=create(api_client, usd()).json()["id"])
    staff = client_for(get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD))
    listing = staff.get("/admin/payouts/externalaccount/")
    assert listing.status_code == 200
    page = listing.content.decode()
    assert account.id in page and "4321" in page and account.processor_token not in page
    detail = staff.get(f"/admin/payouts/externalaccount/{account.id}/change/").content.decode()
    assert "Sandbox Test Bank" in detail and account.processor_token not in detail
    assert staff.get("/admin/payouts/externalaccount/add/").status_code == 403
    staff.post(f"/admin/payouts/externalaccount/{account.id}/delete/", {"post": "yes"})
    assert ExternalAccount.objects.get(pk=account.id).deleted_at is None
