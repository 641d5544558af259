"""The sandbox's daily settlement reports: what settles, with which signs and fees, and crafted differences."""

import csv
import datetime
import io
import time
import uuid

import pytest

from gateways.base import ProcessorUnavailable, SettlementReport
from tests.processors import configure_processor

HEADER = ["settlement_date", "type", "processor_id", "reference", "currency", "amount", "fee", "net"]


def today() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


def rows(report: SettlementReport | bytes) -> list[dict]:
    """The report's lines as the sandbox wrote them (strings by column): from the raw CSV, or as the adapter read
    them (``gateways.sandbox_acquirer.settlement``)."""
    if isinstance(report, bytes):
        reader = csv.DictReader(io.StringIO(report.decode()))
        assert reader.fieldnames == HEADER
        return list(reader)
    return [
        {column: str(value) for column, value in line._asdict().items() if column != "line"}
        for batch in report.batches(size=1000)
        for line in batch
    ]


class Report:
    """The report lines of the days a test ran on (one day, or two across midnight UTC)."""

    def __init__(self, adapter):
        self.adapter = adapter
        self.first_day = today()

    def lines(self, *, about: set[str]) -> list[dict]:
        """Lines whose processor_id or reference is in ``about``, in report order."""
        days = sorted({self.first_day, today()})
        found = [row for day in days for row in rows(self.adapter.settlement_report(day=day))]
        return [row for row in found if row["processor_id"] in about or row["reference"] in about]


def line(kind: str, processor_id: str, reference: str, amount: int, fee: int, currency: str = "USD") -> dict:
    return {
        "type": kind,
        "processor_id": processor_id,
        "reference": reference,
        "currency": currency,
        "amount": str(amount),
        "fee": str(fee),
        "net": str(amount - fee),
    }


def without_date(found: list[dict]) -> list[dict]:
    return [{key: value for key, value in row.items() if key != "settlement_date"} for row in found]


def test_a_days_report_lists_charges_refunds_disputes_and_reversals_with_signs_and_fees(
    adapter, webhook_receiver, new_key, reference
):
    report = Report(adapter)
    charge = adapter.authorize(
        reference=reference, amount=10_000, currency="USD", token="tok_visa", capture=True, idempotency_key=new_key()
    )
    refund = adapter.refund(
        processor_charge_id=charge.processor_id, amount=2_500, reference="re_settle_1", idempotency_key=new_key()
    )
    other_payment = f"pay_test_{uuid.uuid4().hex}"
    won = adapter.authorize(
        reference=other_payment, amount=4_000, currency="USD", token="tok_visa", capture=True, idempotency_key=new_key()
    )
    dispute = adapter.open_dispute(processor_charge_id=won.processor_id)
    adapter.submit_dispute_evidence(
        processor_dispute_id=dispute.processor_id,
        evidence={"uncategorized_text": "winning_evidence"},
        idempotency_key=new_key(),
    )
    webhook_receiver.wait_for_event("dispute.closed", about=dispute.processor_id)

    found = report.lines(about={reference, other_payment, "re_settle_1"})

    assert {row["settlement_date"] for row in found} <= {report.first_day.isoformat(), today().isoformat()}
    assert without_date(found) == [
        # 2.5 % of 10 000 is 250, plus the fixed 25.
        line("charge", charge.processor_id, reference, 10_000, 275),
        line("refund", refund.processor_id, "re_settle_1", -2_500, 0),
        line("charge", won.processor_id, other_payment, 4_000, 125),
        line("dispute", dispute.processor_id, other_payment, -4_000, 1_500),
        line("dispute_reversal", dispute.processor_id, other_payment, 4_000, 0),
    ]


def test_the_fee_is_rounded_half_to_even(adapter, new_key, reference):
    report = Report(adapter)
    # 2.5 % of 1 020 is 25.5 (to 26, even), of 1 060 is 26.5 (to 26, even), of 1 061 is 26.525 (to 27).
    charges = [
        adapter.authorize(
            reference=reference,
            amount=amount,
            currency="USD",
            token="tok_visa",
            capture=True,
            idempotency_key=new_key(),
        )
        for amount in (1_020, 1_060, 1_061)
    ]

    found = report.lines(about={reference})

    assert [(row["processor_id"], row["fee"]) for row in found] == [
        (charges[0].processor_id, "51"),
        (charges[1].processor_id, "51"),
        (charges[2].processor_id, "52"),
    ]


def test_only_what_moved_money_settles(adapter, live_sandbox, webhook_receiver, new_key, reference):
    report = Report(adapter)
    authorized = adapter.authorize(
        reference=reference, amount=5_000, currency="GBP", token="tok_visa", capture=False, idempotency_key=new_key()
    )
    voided = adapter.authorize(
        reference=reference, amount=700, currency="GBP", token="tok_visa", capture=False, idempotency_key=new_key()
    )
    adapter.void(processor_id=voided.processor_id, idempotency_key=new_key())
    live_sandbox.request(
        "POST",
        "/v1/charges",
        idempotency_key=new_key(),
        json={"amount": 900, "currency": "GBP", "source": "tok_chargeDeclined", "reference": reference},
    )
    failing = adapter.authorize(
        reference=reference,
        amount=300,
        currency="GBP",
        token="tok_refundFailure",
        capture=True,
        idempotency_key=new_key(),
    )
    failed = adapter.refund(
        processor_charge_id=failing.processor_id, amount=300, reference="re_f", idempotency_key=new_key()
    )
    assert [row["processor_id"] for row in report.lines(about={reference})] == [failing.processor_id]

    adapter.capture(processor_id=authorized.processor_id, amount=3_000, idempotency_key=new_key())
    live_sandbox.set_faults(refund_delay_seconds=1)
    pending = adapter.refund(
        processor_charge_id=authorized.processor_id, amount=1_000, reference="re_pending", idempotency_key=new_key()
    )

    settled_so_far = report.lines(about={reference, pending.processor_id})
    assert [(row["type"], row["processor_id"], row["amount"]) for row in settled_so_far] == [
        ("charge", failing.processor_id, "300"),
        ("charge", authorized.processor_id, "3000"),
    ]
    webhook_receiver.wait_for_event("refund.succeeded", about=pending.processor_id)
    settled = report.lines(about={reference, pending.processor_id, failed.processor_id})
    assert [(row["type"], row["processor_id"], row["amount"]) for row in settled] == [
        ("charge", failing.processor_id, "300"),
        ("charge", authorized.processor_id, "3000"),
        ("refund", pending.processor_id, "-1000"),
    ]


def test_a_lost_dispute_settles_only_its_debit(adapter, webhook_receiver, new_key, reference):
    report = Report(adapter)
    charge = adapter.authorize(
        reference=reference, amount=2_000, currency="JPY", token="tok_visa", capture=True, idempotency_key=new_key()
    )
    dispute = adapter.open_dispute(processor_charge_id=charge.processor_id, amount=1_500)
    adapter.accept_dispute(processor_dispute_id=dispute.processor_id, idempotency_key=new_key())

    found = report.lines(about={reference})

    assert without_date(found) == [
        line("charge", charge.processor_id, reference, 2_000, 75, "JPY"),
        line("dispute", dispute.processor_id, reference, -1_500, 1_500, "JPY"),
    ]


def test_injected_lines_appear_in_their_days_report(adapter, live_sandbox, new_key, reference):
    report = Report(adapter)
    charge = adapter.authorize(
        reference=reference, amount=1_000, currency="USD", token="tok_visa", capture=True, idempotency_key=new_key()
    )
    day = today().isoformat()
    crafted = [
        # A duplicate of a real line, a line about a payment nobody knows, a wrong amount.
        {"type": "charge", "processor_id": charge.processor_id, "reference": reference, "amount": 1_000, "fee": 50},
        {"type": "charge", "processor_id": "ch_unknown", "reference": reference + "_ghost", "amount": 10, "fee": 0},
        {"type": "refund", "processor_id": "rf_odd", "reference": reference + "_re", "amount": -999},
    ]

    for fields in crafted:
        answer = live_sandbox.request(
            "POST", "/v1/control/settlements/inject", json={"date": day, "currency": "USD", **fields}
        )
        assert answer.status_code == 201, answer.text
        assert answer.json()["injected"] is True

    found = report.lines(about={reference, reference + "_ghost", reference + "_re"})
    assert without_date(found) == [
        line("charge", charge.processor_id, reference, 1_000, 50),
        line("charge", charge.processor_id, reference, 1_000, 50),
        line("charge", "ch_unknown", reference + "_ghost", 10, 0),
        line("refund", "rf_odd", reference + "_re", -999, 0),
    ]


def test_a_line_injected_into_another_day_appears_only_there(adapter, live_sandbox, reference):
    answer = live_sandbox.request(
        "POST",
        "/v1/control/settlements/inject",
        json={
            "date": "2001-02-03",
            "type": "dispute",
            "processor_id": "dsp_old",
            "reference": reference,
            "currency": "EUR",
            "amount": -500,
            "fee": 1500,
        },
    )
    assert answer.status_code == 201

    old = [
        row for row in rows(adapter.settlement_report(day=datetime.date(2001, 2, 3))) if row["reference"] == reference
    ]

    assert old == [{"settlement_date": "2001-02-03", **line("dispute", "dsp_old", reference, -500, 1500, "EUR")}]
    assert not [row for row in rows(adapter.settlement_report(day=today())) if row["reference"] == reference]


def test_a_day_without_activity_is_just_the_header(live_sandbox):
    answer = live_sandbox.request("GET", "/v1/settlements/1999-01-01.csv")

    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/csv")
    assert answer.text == ",".join(HEADER) + "\n"


@pytest.mark.parametrize("day", ["2026-13-01", "2026-02-30", "2026-1-1", "20261124", "yesterday", "2026-W48-1"])
def test_a_bad_date_is_400(live_sandbox, day):
    answer = live_sandbox.request("GET", f"/v1/settlements/{day}.csv")

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "date_invalid"


def test_a_report_needs_the_api_key_and_the_csv_suffix(live_sandbox):
    day = today().isoformat()

    assert live_sandbox.session.get(f"{live_sandbox.base_url}/v1/settlements/{day}.csv").status_code == 401
    assert live_sandbox.request("GET", f"/v1/settlements/{day}.json").status_code == 404


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"date": "2026-02-30"}, "date_invalid"),
        ({"date": None}, "date_invalid"),
        ({"type": "Charge!"}, "parameter_invalid"),
        ({"processor_id": ""}, "parameter_invalid"),
        ({"currency": "usd"}, "currency_invalid"),
        ({"amount": 1.5}, "amount_invalid"),
        ({"fee": "0"}, "amount_invalid"),
        ({"net": 5}, "parameter_unknown"),
    ],
)
def test_bad_injections_are_refused(live_sandbox, fields, code):
    body = {
        "date": "2001-02-04",
        "type": "charge",
        "processor_id": "ch_x",
        "reference": "pay_x",
        "currency": "USD",
        "amount": 100,
        **fields,
    }

    answer = live_sandbox.request("POST", "/v1/control/settlements/inject", json=body)

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == code
    assert rows(live_sandbox.request("GET", "/v1/settlements/2001-02-04.csv").content) == []


def test_the_adapter_reports_an_unreachable_processor_as_unavailable(settings, adapter):
    configure_processor(settings, base_url="http://127.0.0.1:9")
    started = time.monotonic()

    with pytest.raises(ProcessorUnavailable):
        adapter.settlement_report(day=today())

    assert time.monotonic() - started < 5
