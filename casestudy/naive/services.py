"""The naive design's writes. Each function says what it does NOT guarantee: that is the point of it.

Compare payments.services: there the Idempotency-Key is claimed before the processor is called, the
processor gets the payment's own key (a retry is the same charge), the outcome and its event are written in
one transaction (the outbox) and sent after the commit by a worker that retries, and the balance is a sum
of ledger entries. Here none of that holds.
"""

import json
import uuid

import urllib3
from django.conf import settings
from django.db import transaction
from django.db.models import F

from casestudy.naive.models import NaiveBalance, NaivePayment
from gateways.base import CardDeclined, ChargeStatus, ProcessorEvent
from gateways.registry import processor_outside_transaction
from ledger.fees import platform_fee
from merchants.models import Merchant

# The merchant's webhooks go out through urllib3, as the platform's processor calls do (one pool per process).
_http = urllib3.PoolManager(num_pools=2, maxsize=32, block=False)


class NaiveWebhookFailed(Exception):
    """The inline merchant webhook did not get a 2xx: the request's transaction rolls back (the charge stays)."""


def naive_charge(*, merchant: Merchant, order_id: str, amount: int, currency: str, token: str) -> NaivePayment:
    """Charge ``token`` at the processor, then record the payment, credit the balance and tell the merchant.

    Guarantees nothing across failures:
    - the processor gets a fresh Idempotency-Key per call (the sandbox requires the header; a new key each
      time is the same as none), so a client retrying after a timeout is charged again;
    - the processor is called before anything is written: if this process dies between the charge and the
      commit, or the processor answers after our read timeout, the charge exists and the platform never knows;
    - the merchant's webhook is sent inside the transaction, before the commit: if it fails the transaction
      rolls back (the charge stays, unrecorded), and if the commit fails after it the merchant was told of a
      payment that does not exist. It is never sent again.

    Raises CardDeclined (recorded as a failed payment first), ProcessorUnavailable and NaiveWebhookFailed.
    """
    adapter = processor_outside_transaction(settings.PROCESSOR_DEFAULT, "the naive charge")
    try:
        charge = adapter.authorize(
            reference=order_id,
            amount=amount,
            currency=currency,
            token=token,
            capture=True,
            idempotency_key=f"naive-{uuid.uuid4()}",
        )
    except CardDeclined as declined:
        NaivePayment.objects.create(
            merchant=merchant,
            order_id=order_id,
            amount=amount,
            currency=currency,
            token=token,
            status="failed",
            processor_charge_id=declined.charge.processor_id,
        )
        raise
    with transaction.atomic():
        payment = NaivePayment.objects.create(
            merchant=merchant,
            order_id=order_id,
            amount=amount,
            currency=currency,
            token=token,
            status="succeeded",
            processor_charge_id=charge.processor_id,
        )
        net = charge.amount_captured - platform_fee(amount=charge.amount_captured, currency=currency)
        balance, _ = NaiveBalance.objects.get_or_create(merchant=merchant, defaults={"currency": currency})
        NaiveBalance.objects.filter(pk=balance.pk).update(balance=F("balance") + net)
        notify_merchant(payment, "payment.succeeded")
    return payment


def naive_processor_event(*, event: ProcessorEvent) -> bool:
    """Apply a processor webhook about a charge: its status is written over the payment's (the last webhook to
    arrive wins, whatever order the processor sent them in) and, when that changed it, the merchant is told
    inline. A charge the naive design does not know (its answer was lost) is ignored: the API call is its only
    source of truth. Returns whether the payment changed."""
    if event.charge is None:
        return False
    status = {ChargeStatus.CAPTURED: "succeeded", ChargeStatus.DECLINED: "failed"}.get(event.charge.status)
    if status is None:
        return False
    with transaction.atomic():
        payment = NaivePayment.objects.filter(processor_charge_id=event.charge.processor_id).first()
        if payment is None or payment.status == status:
            return False
        payment.status = status
        payment.save(update_fields=["status"])
        notify_merchant(payment, f"payment.{status}")
    return True


def notify_merchant(payment: NaivePayment, event_type: str) -> None:
    """POST the event to ``CASESTUDY_NAIVE_WEBHOOK_URL`` now, once, with a new event id each time it is called.
    Raises NaiveWebhookFailed when the merchant does not answer 2xx in time."""
    url = settings.CASESTUDY_NAIVE_WEBHOOK_URL
    if not url:
        return
    body = {
        "id": f"nevt_{uuid.uuid4().hex}",
        "type": event_type,
        "data": {
            "payment_id": payment.pk,
            "order_id": payment.order_id,
            "amount": payment.amount,
            "currency": payment.currency,
            "status": payment.status,
        },
    }
    try:
        answer = _http.request(
            "POST",
            url,
            body=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "webhook-id": body["id"]},
            timeout=urllib3.Timeout(connect=2.0, read=settings.WEBHOOK_TIMEOUT_SECONDS),
            retries=False,
        )
    except urllib3.exceptions.HTTPError as error:
        raise NaiveWebhookFailed(str(error)) from error
    if not 200 <= answer.status < 300:
        raise NaiveWebhookFailed(f"the merchant answered {answer.status}")
