"""Scheduled payment work. Thin: each task calls one service, and each is safe to run twice."""

import logging

from celery import shared_task

from edge.idempotency import idempotency_keys_prune
from gateways.base import ProcessorUnavailable
from payments import async_confirmation, dispute_services, fx_services, refund_services, services

logger = logging.getLogger(__name__)


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


# An asynchronous confirmation whose outcome the worker could not learn (the processor was not reached or did not
# answer) is tried again after 2, 4, 8, 16, 32, then every 60 s, 12 times (about 9 minutes); after that the resolver
# (every 30 s) carries on alone. Every try is safe: it never charges twice (payments.async_confirmation).
CONFIRM_ASYNC_RETRIES = 12


def confirm_async_countdown(retries: int) -> int:
    """Seconds before retry ``retries + 1`` of an asynchronous confirmation (doubling from 2 s, at most 60 s)."""
    return min(2 * 2**retries, 60)


@shared_task(name="payments.confirm_async", bind=True, max_retries=CONFIRM_ASYNC_RETRIES)
def confirm_async(self, payment_id: str) -> str | None:
    """Steps 2 and 3 of a confirmation the merchant asked for asynchronously (``Prefer: respond-async``):
    call the processor and record its answer. Retried with backoff while the outcome stays unknown."""
    retried = self.request.retries > 0
    payment = async_confirmation.payment_confirm_carry_on(payment_id=payment_id, retried=retried)
    if payment is None or services.payment_outcome_known(payment):
        return payment.status if payment is not None else None
    if self.request.retries >= CONFIRM_ASYNC_RETRIES:
        logger.warning("asynchronous confirmation of %s: outcome still unknown; the resolver carries on", payment_id)
        return payment.status
    raise self.retry(countdown=confirm_async_countdown(self.request.retries))


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


# At worker start: the first import should not wait for beat's first hourly run. The processor may be
# starting too, so the task retries with backoff: 2, 4, 8, 16, 30, 30, 30, 30 s (about 2.5 minutes in all).
FX_START_IMPORT_RETRIES = 8


def fx_start_import_countdown(retries: int) -> int:
    """Seconds before attempt ``retries + 2`` of the worker-start import (doubling from 2 s, at most 30 s)."""
    return min(2 * 2**retries, 30)


@shared_task(name="payments.import_fx_rates_at_start", bind=True, max_retries=FX_START_IMPORT_RETRIES)
def import_fx_rates_at_start(self) -> int:
    """Import the exchange rates when a worker starts, retrying while the processor does not answer yet.

    Gives up quietly after ``FX_START_IMPORT_RETRIES`` retries (the hourly ``payments.import_fx_rates`` goes
    on): a processor that is down never makes this task fail loudly, let alone the worker."""
    try:
        imported = fx_services.fx_rates_import(raise_unavailable=True)
    except ProcessorUnavailable as error:
        if self.request.retries >= FX_START_IMPORT_RETRIES:
            logger.warning(
                "exchange rates at worker start: the processor never answered (%s); the hourly import will try again",
                error,
            )
            return 0
        raise self.retry(countdown=fx_start_import_countdown(self.request.retries)) from error
    logger.info("exchange rates at worker start: imported %d rate(s)", imported)
    return imported


def fx_rates_import_when_worker_starts() -> None:
    """Queue ``import_fx_rates_at_start`` once (the ``worker_ready`` handler in ``config.celery``). Best
    effort: a failure to queue is logged, never raised into the worker."""
    try:
        import_fx_rates_at_start.apply_async(expires=600)
    except Exception:
        logger.exception("exchange rates at worker start: could not queue the import; beat's hourly import will")
