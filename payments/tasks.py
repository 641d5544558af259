"""Scheduled payment work. Thin: each task calls one service, and each is safe to run twice."""

from celery import shared_task

from core.idempotency import idempotency_keys_prune
from payments import dispute_services, fx_services, refund_services, services


@shared_task(name="payments.resolve_processing")
def resolve_processing() -> dict:
    """Settle payments whose processor outcome is unknown (beat: every 30 seconds)."""
    summary = services.payments_resolve_processing()
    refunds_settled = refund_services.refunds_resolve_pending()
    return {
        "examined": summary.examined,
        "settled": summary.settled,
        "still_processing": summary.still_processing,
        "refunds_settled": refunds_settled,
    }


@shared_task(name="payments.expire_authorizations")
def expire_authorizations() -> int:
    """Release authorisations not captured within 7 days (beat: hourly)."""
    return services.payments_expire_authorizations()


@shared_task(name="payments.prune_idempotency_keys")
def prune_idempotency_keys() -> int:
    """Delete idempotency keys older than 24 hours (beat: hourly)."""
    return idempotency_keys_prune()


@shared_task(name="payments.close_overdue_disputes")
def close_overdue_disputes() -> int:
    """Disputes past ``evidence_due_by`` without evidence are lost (beat: every 15 minutes)."""
    return dispute_services.disputes_close_overdue()


@shared_task(name="payments.expire_wallet_payments")
def expire_wallet_payments() -> int:
    """Void and cancel wallet payments not approved within ``PAYMENT_WALLET_EXPIRY_SECONDS`` (beat: every minute)."""
    return services.payments_expire_awaiting_action()


@shared_task(name="payments.import_fx_rates")
def import_fx_rates() -> int:
    """Import the processor's exchange rates into ``FxRate`` (beat: hourly); rates set by hand are kept."""
    return fx_services.fx_rates_import()
