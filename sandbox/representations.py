"""The JSON shape of each sandbox object, as its API shows it (and the settlement report's CSV)."""

import csv
import io
from collections.abc import Iterable

from sandbox import wallets
from sandbox.cards import Card
from sandbox.models import (
    BankAccount,
    Charge,
    Dispute,
    FaultSettings,
    Payout,
    Refund,
    SettlementLine,
    Token,
    WebhookEvent,
)

SETTLEMENT_COLUMNS = ("settlement_date", "type", "processor_id", "reference", "currency", "amount", "fee", "net")


def unix(moment) -> int:
    return int(moment.timestamp())


def card_json(card: Card | Token) -> dict:
    return {"brand": card.brand, "last4": card.last4, "exp_month": card.exp_month, "exp_year": card.exp_year}


def token_json(token_id: str, card: Card | Token) -> dict:
    return {"id": token_id, "object": "token", "card": card_json(card), "behaviour": card.behaviour}


def bank_account_json(account: BankAccount) -> dict:
    """The bank account token as ``POST /v1/bank_accounts`` answers it."""
    return {
        "id": account.id,
        "object": "bank_account",
        "country": account.country,
        "last4": account.last4,
        "fingerprint": account.fingerprint,
        "bank_name": account.bank_name,
        "behaviour": account.behaviour,
        "created": unix(account.created),
    }


def _charge_card_json(charge: Charge) -> dict | None:
    if charge.source_type != Charge.SourceType.CARD:
        return None
    return {
        "brand": charge.card_brand,
        "last4": charge.card_last4,
        "exp_month": charge.card_exp_month,
        "exp_year": charge.card_exp_year,
    }


def _charge_bank_account_json(charge: Charge) -> dict | None:
    if charge.source_type != Charge.SourceType.BANK_ACCOUNT or charge.bank_account is None:
        return None
    account = charge.bank_account
    return {
        "id": account.id,
        "country": account.country,
        "last4": account.last4,
        "fingerprint": account.fingerprint,
        "bank_name": account.bank_name,
    }


def charge_json(charge: Charge) -> dict:
    """The charge. ``card``, ``bank_account`` or ``wallet`` describes its source (the others are null);
    ``next_action_url`` is set only while a wallet charge awaits approval."""
    is_wallet = charge.source_type == Charge.SourceType.WALLET
    return {
        "id": charge.id,
        "object": "charge",
        "reference": charge.reference,
        "amount": charge.amount,
        "currency": charge.currency,
        "status": charge.status,
        "amount_captured": charge.amount_captured,
        "amount_refunded": charge.amount_refunded,
        "captured": charge.status == Charge.Status.CAPTURED,
        "decline_code": charge.decline_code,
        "failure_message": charge.failure_message,
        "idempotency_key": charge.idempotency_key,
        "source_type": charge.source_type,
        "card": _charge_card_json(charge),
        "bank_account": _charge_bank_account_json(charge),
        "wallet": {"type": wallets.WALLETS.get(charge.token, charge.token)} if is_wallet else None,
        "next_action_url": charge.next_action_url if charge.status == Charge.Status.REQUIRES_ACTION else None,
        "expires_at": unix(charge.expires_at) if is_wallet and charge.expires_at else None,
        "return_code": charge.return_code,
        "behaviour": charge.behaviour,
        "disputed": charge.disputed,
        "created": unix(charge.created),
    }


def refund_json(refund: Refund) -> dict:
    return {
        "id": refund.id,
        "object": "refund",
        "charge": refund.charge_id,
        "reference": refund.reference,
        "amount": refund.amount,
        "currency": refund.currency,
        "status": refund.status,
        "failure_reason": refund.failure_reason,
        "idempotency_key": refund.idempotency_key,
        "created": unix(refund.created),
    }


def dispute_json(dispute: Dispute) -> dict:
    return {
        "id": dispute.id,
        "object": "dispute",
        "charge": dispute.charge_id,
        "reference": dispute.reference,
        "amount": dispute.amount,
        "currency": dispute.currency,
        "reason": dispute.reason,
        "status": dispute.status,
        "evidence_due_by": unix(dispute.evidence_due_by),
        "evidence": dispute.evidence,
        "created": unix(dispute.created),
    }


def payout_json(payout: Payout) -> dict:
    """The payout. ``destination`` is the bank account token; ``arrival_date`` (Unix seconds) is when it is paid,
    or fails."""
    return {
        "id": payout.id,
        "object": "payout",
        "reference": payout.reference,
        "description": payout.description,
        "amount": payout.amount,
        "currency": payout.currency,
        "destination": payout.destination_id,
        "bank_account": {
            "id": payout.destination.id,
            "country": payout.destination.country,
            "last4": payout.destination.last4,
            "fingerprint": payout.destination.fingerprint,
            "bank_name": payout.destination.bank_name,
        },
        "status": payout.status,
        "arrival_date": unix(payout.arrival_at),
        "failure_code": payout.failure_code,
        "failure_message": payout.failure_message,
        "idempotency_key": payout.idempotency_key,
        "created": unix(payout.created),
    }


def settlement_line_json(line: SettlementLine) -> dict:
    return {
        "object": "settlement_line",
        "settlement_date": line.settlement_date.isoformat(),
        "type": line.type,
        "processor_id": line.processor_id,
        "reference": line.reference,
        "currency": line.currency,
        "amount": line.amount,
        "fee": line.fee,
        "net": line.net,
        "injected": line.injected,
    }


def settlement_csv(lines: Iterable[SettlementLine]) -> str:
    """The settlement report: a header, then one line per settled fact (see docs/settlement-report.md)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(SETTLEMENT_COLUMNS)
    for line in lines:
        writer.writerow(
            [
                line.settlement_date.isoformat(),
                line.type,
                line.processor_id,
                line.reference,
                line.currency,
                line.amount,
                line.fee,
                line.net,
            ]
        )
    return out.getvalue()


def event_json(event: WebhookEvent) -> dict:
    return {
        "id": event.id,
        "object": "event",
        "type": event.type,
        "status": event.status,
        "attempts": event.attempts,
        "deliveries": event.deliveries,
        "last_status_code": event.last_status_code,
        "last_error": event.last_error,
        "next_attempt_at": unix(event.next_attempt_at),
        "delivered_at": unix(event.delivered_at) if event.delivered_at else None,
        "created": unix(event.created),
        "payload": event.payload,
    }


def fx_rates_json(*, base: str, rates: dict[str, str], as_of: int) -> dict:
    return {"object": "fx_rates", "base": base, "rates": rates, "as_of": as_of}


def faults_json(faults: FaultSettings) -> dict:
    return {
        "object": "faults",
        "latency_ms": faults.latency_ms,
        "error_rate": faults.error_rate,
        "seed": faults.seed,
        "duplicate_webhooks": faults.duplicate_webhooks,
        "shuffle_webhooks": faults.shuffle_webhooks,
        "timeout_delay_seconds": faults.timeout_delay_seconds,
        "refund_delay_seconds": faults.refund_delay_seconds,
        "dispute_delay_seconds": faults.dispute_delay_seconds,
        "dispute_decision_seconds": faults.dispute_decision_seconds,
        "bank_settlement_seconds": faults.bank_settlement_seconds,
        "bank_return_seconds": faults.bank_return_seconds,
        "wallet_expiry_seconds": faults.wallet_expiry_seconds,
        "fx_drift_bps": faults.fx_drift_bps,
        "payout_seconds": faults.payout_seconds,
        "draws": faults.draws,
    }
