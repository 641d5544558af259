"""The sandbox's payouts over its HTTP API: in transit at once, paid (or failed to a closed account) after
``payout_seconds`` by its own timer, idempotent like charges and refunds, in the settlement report, and still due
after the process dies."""

import datetime
import time

import pytest

from tests.sandbox_process import SandboxProcess

pytestmark = pytest.mark.slow

PAYOUT_SECONDS = 0.5
US_ACCOUNT = {"country": "US", "holder_name": "Jane Merchant", "routing_number": "110000000"}


@pytest.fixture(scope="module")
def sandbox():
    with SandboxProcess(env={"SANDBOX_PAYOUT_SECONDS": str(PAYOUT_SECONDS)}) as process:
        yield process


@pytest.fixture
def settled_quickly(sandbox):
    yield sandbox
    sandbox.set_faults(payout_seconds=PAYOUT_SECONDS, error_rate=0.0)


def bank_account(sandbox: SandboxProcess, **details) -> str:
    answer = sandbox.request(
        "POST", "/v1/bank_accounts", json=details or {**US_ACCOUNT, "account_number": "000123456789"}
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def pay_out(sandbox: SandboxProcess, key: str, **body):
    return sandbox.request("POST", "/v1/payouts", idempotency_key=key, json=body)


def wait_for_status(sandbox: SandboxProcess, payout_id: str, status: str, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        payout = sandbox.request("GET", f"/v1/payouts/{payout_id}").json()
        if payout["status"] == status:
            return payout
        assert time.monotonic() < deadline, f"{payout_id} is still {payout['status']}, not {status}"
        time.sleep(0.1)


def report(sandbox: SandboxProcess) -> list[list[str]]:
    day = datetime.datetime.now(datetime.UTC).date().isoformat()
    return [line.split(",") for line in sandbox.request("GET", f"/v1/settlements/{day}.csv").text.splitlines()[1:]]


def events_about(sandbox: SandboxProcess, object_id: str) -> list[dict]:
    return [event for event in sandbox.events() if event["payload"]["data"]["object"]["id"] == object_id]


def test_a_payout_is_in_transit_at_once_then_paid_with_its_webhook_and_its_settlement_line(sandbox):
    destination = bank_account(sandbox)
    body = {"amount": 12_345, "currency": "USD", "destination": destination, "reference": "po_platform_paid"}

    answer = pay_out(sandbox, "payout-paid", **body, description="November")

    assert answer.status_code == 201, answer.text
    payout = answer.json()
    assert payout["id"].startswith("po_")
    assert {key: payout[key] for key in ("object", "amount", "currency", "destination", "reference", "status")} == {
        "object": "payout",
        "amount": 12_345,
        "currency": "USD",
        "destination": destination,
        "reference": "po_platform_paid",
        "status": "in_transit",
    }
    assert (payout["failure_code"], payout["failure_message"], payout["description"]) == (None, None, "November")
    assert payout["bank_account"]["last4"] == "6789"
    assert 0 <= payout["arrival_date"] - payout["created"] <= 1
    assert events_about(sandbox, payout["id"]) == []
    assert not [line for line in report(sandbox) if line[2] == payout["id"]], "no money moved yet"

    paid = wait_for_status(sandbox, payout["id"], "paid")

    assert paid["failure_code"] is None
    [event] = events_about(sandbox, payout["id"])
    assert event["type"] == "payout.paid"
    assert event["payload"]["data"]["object"]["status"] == "paid"
    [line] = [line for line in report(sandbox) if line[2] == payout["id"]]
    assert line[1:] == ["payout", payout["id"], "po_platform_paid", "USD", "-12345", "0", "-12345"]


@pytest.mark.parametrize(
    "account",
    [
        {**US_ACCOUNT, "account_number": "000111111116"},  # Stripe's test account: the account is closed
        {**US_ACCOUNT, "account_number": "9871116"},
        {"country": "DE", "holder_name": "Jane Merchant", "iban": "DE28370400440111111116"},
    ],
)
def test_a_payout_to_an_account_ending_in_1116_fails_account_closed_and_moves_no_money(sandbox, account):
    destination = bank_account(sandbox, **account)
    payout = pay_out(
        sandbox,
        f"payout-closed-{account.get('iban') or account['account_number']}",
        amount=500,
        currency="EUR",
        destination=destination,
    ).json()
    assert payout["status"] == "in_transit"

    failed = wait_for_status(sandbox, payout["id"], "failed")

    assert (failed["failure_code"], failed["failure_message"]) == (
        "account_closed",
        "The bank account has been closed.",
    )
    assert [event["type"] for event in events_about(sandbox, payout["id"])] == ["payout.failed"]
    assert not [line for line in report(sandbox) if line[2] == payout["id"]]
    assert failed["reference"] is None


def test_the_same_key_replays_the_payout_and_another_body_with_it_is_refused(sandbox):
    destination = bank_account(sandbox)
    body = {"amount": 1_000, "currency": "USD", "destination": destination, "reference": "po_platform_replay"}
    first = pay_out(sandbox, "payout-replay", **body)

    again = pay_out(sandbox, "payout-replay", **dict(reversed(body.items())))
    other = pay_out(sandbox, "payout-replay", **{**body, "amount": 1_001})

    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert (other.status_code, other.json()["error"]["code"]) == (422, "idempotency_key_reused")
    listed = sandbox.request("GET", "/v1/payouts", params={"reference": "po_platform_replay"}).json()
    assert [payout["id"] for payout in listed["data"]] == [first.json()["id"]]
    by_key = sandbox.request("GET", "/v1/payouts", params={"idempotency_key": "payout-replay"}).json()
    assert [payout["id"] for payout in by_key["data"]] == [first.json()["id"]]
    wait_for_status(sandbox, first.json()["id"], "paid")
    assert len([line for line in report(sandbox) if line[2] == first.json()["id"]]) == 1


def test_a_payout_needs_a_key_and_a_known_destination_and_a_refusal_is_not_stored(sandbox):
    destination = bank_account(sandbox)
    body = {"amount": 700, "currency": "USD", "destination": destination}

    no_key = sandbox.request("POST", "/v1/payouts", json=body)
    unknown = pay_out(sandbox, "payout-fixed-later", **{**body, "destination": "ba_nothing"})
    fixed = pay_out(sandbox, "payout-fixed-later", **body)

    assert (no_key.status_code, no_key.json()["error"]["code"]) == (400, "idempotency_key_missing")
    assert unknown.status_code == 400
    assert (unknown.json()["error"]["code"], unknown.json()["error"]["param"]) == ("token_invalid", "destination")
    assert fixed.status_code == 201, "the refused body stored nothing under the key"
    for bad, code in [
        ({"amount": 0}, "amount_invalid"),
        ({"amount": "700"}, "amount_invalid"),
        ({"currency": "usd"}, "currency_invalid"),
        ({"destination": "tok_visa"}, "token_invalid"),
        ({"destination": None}, "parameter_missing"),
        ({"method": "instant"}, "parameter_unknown"),
        ({"reference": ""}, "parameter_invalid"),
    ]:
        refused = pay_out(sandbox, f"payout-bad-{code}-{len(bad)}", **{**body, **bad})
        assert (refused.status_code, refused.json()["error"]["code"]) == (400, code), bad
    missing = sandbox.request("GET", "/v1/payouts/po_nothing")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "resource_missing")


def test_payout_seconds_is_a_fault_setting_read_when_the_payout_is_made(settled_quickly):
    sandbox = settled_quickly
    destination = bank_account(sandbox)
    sandbox.set_faults(payout_seconds=30)
    slow = pay_out(sandbox, "payout-slow", amount=100, currency="USD", destination=destination).json()
    sandbox.set_faults(payout_seconds=0)
    quick = pay_out(sandbox, "payout-quick", amount=100, currency="USD", destination=destination).json()

    assert 29 <= slow["arrival_date"] - slow["created"] <= 31
    wait_for_status(sandbox, quick["id"], "paid", timeout=5)
    assert sandbox.request("GET", f"/v1/payouts/{slow['id']}").json()["status"] == "in_transit"


def test_an_injected_error_pays_out_nothing_and_a_retry_with_the_key_pays_out_once(settled_quickly):
    sandbox = settled_quickly
    destination = bank_account(sandbox)
    sandbox.set_faults(error_rate=1.0)
    failed = pay_out(
        sandbox,
        "payout-after-error",
        amount=100,
        currency="USD",
        destination=destination,
        reference="po_platform_error",
    )
    sandbox.set_faults(error_rate=0.0)
    retried = pay_out(
        sandbox,
        "payout-after-error",
        amount=100,
        currency="USD",
        destination=destination,
        reference="po_platform_error",
    )

    assert (failed.status_code, failed.json()["error"]["code"]) == (500, "processing_error")
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers
    listed = sandbox.request("GET", "/v1/payouts", params={"reference": "po_platform_error"}).json()["data"]
    assert len(listed) == 1


def test_a_payout_due_while_the_process_is_down_is_paid_once_after_the_restart():
    with SandboxProcess(env={"SANDBOX_PAYOUT_SECONDS": "1"}) as sandbox:
        destination = bank_account(sandbox)
        payout = pay_out(
            sandbox,
            "payout-restart",
            amount=2_500,
            currency="USD",
            destination=destination,
            reference="po_platform_restart",
        ).json()
        sandbox.kill()  # a crash, before it was due
        time.sleep(1.5)
        sandbox.start()

        paid = wait_for_status(sandbox, payout["id"], "paid")

        assert paid["id"] == payout["id"]
        assert [event["type"] for event in events_about(sandbox, payout["id"])] == ["payout.paid"]
        assert len([line for line in report(sandbox) if line[2] == payout["id"]]) == 1
        replay = pay_out(
            sandbox,
            "payout-restart",
            amount=2_500,
            currency="USD",
            destination=destination,
            reference="po_platform_restart",
        )
        assert replay.headers["Idempotent-Replayed"] == "true" and replay.json()["status"] == "in_transit"
