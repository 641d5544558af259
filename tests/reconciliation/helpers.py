"""Helpers for the reconciliation tests: crafted report files, ledger state from the posting rules, the command."""

import csv
import datetime
import io
import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from core.ids import new_id
from gateways.base import Payout as ProcessorPayout
from gateways.base import PayoutStatus as ProcessorPayoutStatus
from gateways.base import SettlementLine
from ledger import posting_rules
from ledger.fees import round_half_even
from payments.models import Dispute, Payment, Refund
from payouts import payout_services
from payouts.models import ExternalAccount, Payout

HEADER = ("settlement_date", "type", "processor_id", "reference", "currency", "amount", "fee", "net")


def today() -> datetime.date:
    return timezone.now().astimezone(datetime.UTC).date()


def charge_fee(amount: int, bps: int = 250, fixed: int = 25) -> int:
    return round_half_even(amount * bps, 10_000) + fixed


@dataclass
class Line:
    type: str
    processor_id: str
    reference: str
    currency: str
    amount: int
    fee: int | None = None  # None: the fee the processor's defaults give

    def row(self, day: datetime.date) -> list:
        fee = self.fee
        if fee is None:
            fee = {"charge": charge_fee(self.amount), "dispute": 1500}.get(self.type, 0)
        return [
            day.isoformat(),
            self.type,
            self.processor_id,
            self.reference,
            self.currency,
            self.amount,
            fee,
            self.amount - fee,
        ]


class LinesReport:
    """A settlement report as an adapter hands it over (``gateways.base.SettlementReport``), made of the boundary's
    lines themselves: what reconciliation reads, whatever the acquirer's file looked like."""

    def __init__(self, lines: list[SettlementLine], sha256: str = "0" * 64):
        self.lines = lines
        self.sha256 = sha256

    def batches(self, *, size: int):
        for start in range(0, len(self.lines), size):
            yield self.lines[start : start + size]


def write_report(tmp_path: Path, day: datetime.date, lines, name: str = "report.csv") -> Path:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for line in lines:
        writer.writerow(line.row(day) if isinstance(line, Line) else line)
    path = tmp_path / name
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def write_raw(tmp_path: Path, text: str | bytes, name: str = "report.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


# --- Our side, written with the real posting rules ----------------------------------------------------


def payment(merchant, amount: int = 10_000, currency: str = "USD", status: str = "succeeded", **fields) -> Payment:
    """A payment row in ``status``; a succeeded one has its capture posted to the ledger."""
    values = {
        "amount": amount,
        "currency": currency,
        "status": status,
        "card_token": "tok_visa",
        "card_brand": "visa",
        "card_last4": "4242",
        "card_exp_month": 12,
        "card_exp_year": 2030,
        "processor_charge_id": new_id("ch") if status not in ("processing", "requires_confirmation") else None,
        "amount_captured": amount if status == "succeeded" else 0,
        "processor": "sandbox",
    }
    values.update(fields)
    with transaction.atomic():
        created = Payment.objects.create(merchant=merchant, **values)
        if status == "succeeded":
            conversion = {name: fields[name] for name in ("settlement_currency", "fx_rate") if name in fields}
            posting_rules.payment_captured(
                payment_id=created.id,
                merchant=merchant,
                amount_captured=created.amount_captured,
                currency=currency,
                authorized=False,
                **conversion,
            )
    return created


def refund(paid: Payment, amount: int, status: str = "succeeded") -> Refund:
    with transaction.atomic():
        processor_refund_id = new_id("rf") if status == "succeeded" else None
        created = Refund.objects.create(
            payment=paid,
            merchant=paid.merchant,
            amount=amount,
            currency=paid.currency,
            status=status,
            requested_by="api:test",
            processor_refund_id=processor_refund_id,
        )
        Payment.objects.filter(pk=paid.pk).update(amount_refunded=amount)
        posting_rules.refund_created(
            refund_id=created.id, payment_id=paid.id, merchant=paid.merchant, amount=amount, currency=paid.currency
        )
        if status == "succeeded":
            posting_rules.refund_succeeded(refund_id=created.id)
    return created


def dispute(paid: Payment, amount: int | None = None, won: bool = False, status: str | None = None) -> Dispute:
    amount = amount or paid.amount_captured
    with transaction.atomic():
        created = Dispute.objects.create(
            payment=paid,
            merchant=paid.merchant,
            processor_dispute_id=new_id("dsp"),
            amount=amount,
            currency=paid.currency,
            fee=1500,
            status=status or ("won" if won else "needs_response"),
            evidence_due_by=timezone.now() + timedelta(days=7),
        )
        posting_rules.dispute_opened(
            dispute_id=created.id,
            payment_id=paid.id,
            merchant=paid.merchant,
            amount=amount,
            fee=1500,
            currency=paid.currency,
        )
        if won:
            posting_rules.dispute_won(dispute_id=created.id)
    return created


def payout(merchant, amount: int = 5_000, status: str = "paid", currency: str = "USD") -> Payout:
    """A payout made and moved to ``status`` by the payouts services, from funds credited by a staff adjustment.

    ``pending`` is never sent; ``sent`` is pending and claimed (its send got no answer); ``in_transit``, ``paid``
    and ``failed`` have the processor's id; ``canceled`` was canceled while pending. No processor is called:
    the processor's answers are applied as its webhooks would."""
    account = ExternalAccount.objects.filter(merchant=merchant, currency=currency, default_for_currency=True).first()
    if account is None:
        account = ExternalAccount.objects.create(
            merchant=merchant,
            currency=currency,
            country="US",
            last4="6789",
            fingerprint=new_id("fp"),
            processor="sandbox",
            processor_token=new_id("ba"),
            default_for_currency=True,
        )
    with transaction.atomic():
        posting_rules.manual_adjustment(
            adjustment_id=new_id("adj"), merchant=merchant, amount=amount, currency=currency, memo="test funds"
        )
    made = payout_services.payout_create(
        merchant=merchant, amount=amount, currency=currency, destination_id=None, description=None, actor="api:test"
    )
    if status == "canceled":
        return payout_services.payout_cancel(merchant=merchant, payout_id=made.id, actor="api:test")
    if status == "pending":
        return made
    # The worker's claim, as payout_send commits it before calling the processor.
    Payout.objects.filter(pk=made.pk).update(sending_since=timezone.now())
    if status == "sent":
        return Payout.objects.get(pk=made.pk)

    def answer(processor_status: str) -> ProcessorPayout:
        return ProcessorPayout(
            processor_id=made.processor_payout_id or processor_payout_id,
            reference=made.id,
            amount=amount,
            currency=currency,
            destination=account.processor_token,
            status=processor_status,
            arrival_date=int(timezone.now().timestamp()),
            failure_code="account_closed" if processor_status == "failed" else None,
        )

    processor_payout_id = new_id("po")
    made = payout_services.payout_apply_processor_payout(
        payout_id=made.id, answer=answer(ProcessorPayoutStatus.IN_TRANSIT), actor="test"
    )
    if status in ("paid", "failed"):
        made = payout_services.payout_apply_processor_payout(
            payout_id=made.id, answer=answer(ProcessorPayoutStatus(status)), actor="test"
        )
    assert made.status == status, made.status
    return made


def payout_line(made: Payout, **changes) -> Line:
    values = {
        "type": "payout",
        "processor_id": made.processor_payout_id or new_id("po"),
        "reference": made.id,
        "currency": made.currency,
        "amount": -made.amount,
    }
    values.update(changes)
    return Line(**values)


def charge_line(paid: Payment, **changes) -> Line:
    values = {
        "type": "charge",
        "processor_id": paid.processor_charge_id or new_id("ch"),
        "reference": paid.id,
        "currency": paid.currency,
        "amount": paid.amount_captured or paid.amount,
    }
    values.update(changes)
    return Line(**values)


def refund_line(made: Refund, **changes) -> Line:
    values = {
        "type": "refund",
        "processor_id": made.processor_refund_id or new_id("rf"),
        "reference": made.id,
        "currency": made.currency,
        "amount": -made.amount,
    }
    values.update(changes)
    return Line(**values)


def dispute_line(made: Dispute, reversal: bool = False, **changes) -> Line:
    values = {
        "type": "dispute_reversal" if reversal else "dispute",
        "processor_id": made.processor_dispute_id,
        "reference": made.payment_id,
        "currency": made.currency,
        "amount": made.amount if reversal else -made.amount,
    }
    values.update(changes)
    return Line(**values)


# --- Running the command ---------------------------------------------------------------------------------


def reconcile(day: datetime.date, path: Path | None = None, processor: str | None = None) -> dict:
    """``reconcile --date day [--file path] [--processor name] --json``: the JSON of its last line."""
    out = io.StringIO()
    args = ["--date", day.isoformat(), "--json"] + (["--file", str(path)] if path is not None else [])
    args += ["--processor", processor] if processor is not None else []
    call_command("reconcile", *args, stdout=out)
    return json.loads(out.getvalue().strip().splitlines()[-1])


def nonzero(result: dict) -> dict:
    return {kind: n for kind, n in result["exceptions"].items() if n}
