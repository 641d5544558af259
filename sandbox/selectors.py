"""Reads of the sandbox's records, shared by the views, the services and the dispatcher."""

import datetime

from django.db import connection

from sandbox.cards import FIXED_TOKENS, Card
from sandbox.config import sandbox_config
from sandbox.errors import ResourceMissing
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

MAX_LIST = 100


def token_card(token_id: str) -> Card | None:
    """The card behind a token: a fixed test token, or a tokenised card; None when there is no such token."""
    fixed = FIXED_TOKENS.get(token_id)
    if fixed is not None:
        return fixed
    token = Token.objects.filter(pk=token_id).first()
    if token is None:
        return None
    return Card(token.brand, token.last4, token.exp_month, token.exp_year, token.behaviour)


def bank_account_get(*, bank_account_id: str) -> BankAccount | None:
    """The tokenised bank account, or None when there is no such token."""
    return BankAccount.objects.filter(pk=bank_account_id).first()


def charge_get(*, charge_id: str) -> Charge:
    charge = Charge.objects.select_related("bank_account").filter(pk=charge_id).first()
    if charge is None:
        raise ResourceMissing(f"No such charge: {charge_id!r}.", param="id")
    return charge


def wallet_charge_get(*, charge_id: str) -> Charge | None:
    """The wallet charge ``charge_id``, or None (no such charge, or not a wallet's)."""
    return Charge.objects.filter(pk=charge_id, source_type=Charge.SourceType.WALLET).first()


def charges_list(*, reference: str | None = None, idempotency_key: str | None = None, limit: int = MAX_LIST):
    """Charges, newest first, filtered by our client's reference and/or the idempotency key that created them."""
    charges = Charge.objects.select_related("bank_account")
    if reference is not None:
        charges = charges.filter(reference=reference)
    if idempotency_key is not None:
        charges = charges.filter(idempotency_key=idempotency_key)
    return list(charges.order_by("-created", "-id")[:limit])


def refund_get(*, refund_id: str) -> Refund:
    refund = Refund.objects.filter(pk=refund_id).first()
    if refund is None:
        raise ResourceMissing(f"No such refund: {refund_id!r}.", param="id")
    return refund


def refunds_list(
    *,
    reference: str | None = None,
    idempotency_key: str | None = None,
    charge_id: str | None = None,
    limit: int = MAX_LIST,
) -> list[Refund]:
    """Refunds, newest first, filtered by our client's reference, the key that created them and/or their charge."""
    refunds = Refund.objects.all()
    if reference is not None:
        refunds = refunds.filter(reference=reference)
    if idempotency_key is not None:
        refunds = refunds.filter(idempotency_key=idempotency_key)
    if charge_id is not None:
        refunds = refunds.filter(charge_id=charge_id)
    return list(refunds.order_by("-created", "-id")[:limit])


def dispute_get(*, dispute_id: str) -> Dispute:
    dispute = Dispute.objects.filter(pk=dispute_id).first()
    if dispute is None:
        raise ResourceMissing(f"No such dispute: {dispute_id!r}.", param="id")
    return dispute


def disputes_list(*, reference: str | None = None, charge_id: str | None = None, limit: int = MAX_LIST):
    """Disputes, newest first, filtered by the disputed charge's reference (our payment id) and/or the charge."""
    disputes = Dispute.objects.all()
    if reference is not None:
        disputes = disputes.filter(reference=reference)
    if charge_id is not None:
        disputes = disputes.filter(charge_id=charge_id)
    return list(disputes.order_by("-created", "-id")[:limit])


def payout_get(*, payout_id: str) -> Payout:
    payout = Payout.objects.select_related("destination").filter(pk=payout_id).first()
    if payout is None:
        raise ResourceMissing(f"No such payout: {payout_id!r}.", param="id")
    return payout


def payouts_list(*, reference: str | None = None, idempotency_key: str | None = None, limit: int = MAX_LIST):
    """Payouts, newest first, filtered by our client's reference (its payout id) and/or the key that created them."""
    payouts = Payout.objects.select_related("destination")
    if reference is not None:
        payouts = payouts.filter(reference=reference)
    if idempotency_key is not None:
        payouts = payouts.filter(idempotency_key=idempotency_key)
    return list(payouts.order_by("-created", "-id")[:limit])


def captured_charge_for(*, reference: str) -> Charge:
    """The newest captured charge with our client's ``reference`` (a payment may have declined attempts too)."""
    charge = Charge.objects.filter(reference=reference, status=Charge.Status.CAPTURED).order_by("-created").first()
    if charge is None:
        raise ResourceMissing(f"No captured charge with reference {reference!r}.", param="reference")
    return charge


def settlement_lines(*, day: datetime.date) -> list[SettlementLine]:
    """The lines of ``day``'s settlement report so far, in the order they happened."""
    return list(SettlementLine.objects.filter(settlement_date=day).order_by("occurred_at", "id"))


_FAULT_COLUMNS = [field.column for field in FaultSettings._meta.concrete_fields]
_FAULT_ATTNAMES = [field.attname for field in FaultSettings._meta.concrete_fields]
# Built from the model's own metadata, never from input.
_FAULTS_SQL = f"SELECT {', '.join(_FAULT_COLUMNS)} FROM {FaultSettings._meta.db_table} WHERE id = 1"  # noqa: S608


def faults_current() -> FaultSettings:
    """The faults in force. Read once per request, so every worker process sees a change at once.

    Plain SQL: it runs on every charge request, and the ORM's query building
    would cost more than the query.
    """
    with connection.cursor() as cursor:
        cursor.execute(_FAULTS_SQL)
        row = cursor.fetchone()
    if row is not None:
        return FaultSettings.from_db(connection.alias, _FAULT_ATTNAMES, row)
    config = sandbox_config()
    return FaultSettings(
        latency_ms=config.latency_ms,
        error_rate=config.error_rate,
        seed=config.seed,
        duplicate_webhooks=config.duplicate_webhooks,
        shuffle_webhooks=config.shuffle_webhooks,
        timeout_delay_seconds=config.timeout_delay_seconds,
        refund_delay_seconds=config.refund_delay_seconds,
        dispute_delay_seconds=config.dispute_delay_seconds,
        dispute_decision_seconds=config.dispute_decision_seconds,
        bank_settlement_seconds=config.bank_settlement_seconds,
        bank_return_seconds=config.bank_return_seconds,
        wallet_expiry_seconds=config.wallet_expiry_seconds,
        fx_drift_bps=config.fx_drift_bps,
        payout_seconds=config.payout_seconds,
    )


def events_list(
    *, event_type: str | None = None, status: str | None = None, limit: int = MAX_LIST
) -> list[WebhookEvent]:
    events = WebhookEvent.objects.all()
    if event_type is not None:
        events = events.filter(type=event_type)
    if status is not None:
        events = events.filter(status=status)
    return list(events.order_by("-created", "-id")[:limit])


def event_get(*, event_id: str) -> WebhookEvent:
    event = WebhookEvent.objects.filter(pk=event_id).first()
    if event is None:
        raise ResourceMissing(f"No such event: {event_id!r}.", param="id")
    return event
