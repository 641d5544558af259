"""The JSON shape of each sandbox object, as its API shows it."""

from gateways.sandbox.cards import Card
from gateways.sandbox.models import Charge, FaultSettings, Token, WebhookEvent


def unix(moment) -> int:
    return int(moment.timestamp())


def card_json(card: Card | Token) -> dict:
    return {"brand": card.brand, "last4": card.last4, "exp_month": card.exp_month, "exp_year": card.exp_year}


def token_json(token_id: str, card: Card | Token) -> dict:
    return {"id": token_id, "object": "token", "card": card_json(card), "behaviour": card.behaviour}


def charge_json(charge: Charge) -> dict:
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
        "card": {
            "brand": charge.card_brand,
            "last4": charge.card_last4,
            "exp_month": charge.card_exp_month,
            "exp_year": charge.card_exp_year,
        },
        "behaviour": charge.behaviour,
        "created": unix(charge.created),
    }


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


def faults_json(faults: FaultSettings) -> dict:
    return {
        "object": "faults",
        "latency_ms": faults.latency_ms,
        "error_rate": faults.error_rate,
        "seed": faults.seed,
        "duplicate_webhooks": faults.duplicate_webhooks,
        "shuffle_webhooks": faults.shuffle_webhooks,
        "timeout_delay_seconds": faults.timeout_delay_seconds,
        "draws": faults.draws,
    }
