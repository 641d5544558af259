"""Payout work in the workers. Thin: each task calls one service, and each is safe to run twice or concurrently."""

from celery import shared_task

from payouts import payout_services


@shared_task(name="payouts.send")
def send(payout_id: str) -> str:
    """Send one payout (queued after its creation commits). A duplicate message, or a payout another worker is
    sending, changes nothing: the claim under the row lock lets one send through."""
    return payout_services.payout_send(payout_id=payout_id).status


@shared_task(name="payouts.sweep")
def sweep() -> dict:
    """Send payouts whose message was lost, resolve those whose send got no answer, ask about those in transit
    past their arrival (beat: every minute)."""
    return payout_services.payouts_sweep()


@shared_task(name="payouts.pay_out_automatically")
def pay_out_automatically() -> dict:
    """Pay out the available balance of merchants on a daily or weekly schedule, once per period (beat: every
    five minutes)."""
    return payout_services.payouts_pay_out_automatically()
