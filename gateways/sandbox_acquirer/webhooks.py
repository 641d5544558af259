"""The sandbox's webhooks: the ``Sandbox-Signature`` header, verified, and the event decoded.

The header is ``t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``; each processor signs with
its own secret, so a webhook sent to another processor's URL does not verify.
"""

import hashlib
import hmac
import json
import time
from collections.abc import Mapping

from gateways.base import ProcessorEvent, WebhookSignatureInvalid
from gateways.sandbox_acquirer.mapping import charge_from_json, dispute_from_json, payout_from_json, refund_from_json

SIGNATURE_HEADER = "Sandbox-Signature"


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Sandbox-Signature`` value the sandbox sends: ``t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def parse_webhook(*, secret: str, body: bytes, headers: Mapping[str, str], tolerance_seconds: int) -> ProcessorEvent:
    """Verify the ``Sandbox-Signature`` of ``body`` and decode the event.

    Raises WebhookSignatureInvalid when the header is missing or malformed,
    no ``v1`` signature matches (compared in constant time), the timestamp
    is more than ``tolerance_seconds`` away from now, or the verified body
    is not an event.
    """
    header = _header(headers, SIGNATURE_HEADER)
    if not header:
        raise WebhookSignatureInvalid(f"missing {SIGNATURE_HEADER} header")
    timestamp, signatures = _parse_signature(header)
    expected = signature_header(secret, timestamp, body).rsplit("v1=", 1)[1]
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise WebhookSignatureInvalid("signature does not match")
    if abs(time.time() - timestamp) > tolerance_seconds:
        raise WebhookSignatureInvalid("timestamp outside the tolerance")
    try:
        payload = json.loads(body)
        obj = payload["data"]["object"]
        kind = obj.get("object")
        event = ProcessorEvent(
            event_id=str(payload["id"]),
            type=str(payload["type"]),
            created=int(payload["created"]),
            charge=charge_from_json(obj) if kind == "charge" else None,
            refund=refund_from_json(obj) if kind == "refund" else None,
            dispute=dispute_from_json(obj) if kind == "dispute" else None,
            payout=payout_from_json(obj) if kind == "payout" else None,
            payload=payload,
        )
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise WebhookSignatureInvalid(f"the signed body is not an event: {error}") from error
    return event


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        wanted = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == wanted), None)
    return value


def _parse_signature(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            try:
                timestamp = int(value)
            except ValueError as error:
                raise WebhookSignatureInvalid("malformed timestamp") from error
        elif name == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise WebhookSignatureInvalid(f"malformed {SIGNATURE_HEADER} header")
    return timestamp, signatures
