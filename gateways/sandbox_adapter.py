"""The platform's client of the sandbox processor: HTTP calls in, ``gateways.base`` dataclasses out.

Every failure is translated here, once, into the types of ``gateways.base``:
402 is a definite decline (CardDeclined, with the declined charge); a timeout,
a connection error, a 5xx, a 409 (the same key still in flight) or an
unreadable answer means the outcome is unknown (ProcessorUnavailable); any
other 4xx is a definite refusal that charged nothing (ProcessorRequestRejected,
TokenInvalid for an unknown token). Refunds, disputes and bank account
tokenisation follow the same rules; reads (look-ups, lists, the settlement
report, exchange rates) turn every refusal into ProcessorUnavailable, because a
refused read says nothing about money.
"""

import datetime
import decimal
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from gateways.base import (
    BankAccountDetails,
    CardDeclined,
    CardDetails,
    Charge,
    Dispute,
    ProcessorEvent,
    ProcessorRequestRejected,
    ProcessorUnavailable,
    Refund,
    TokenInvalid,
    WebhookSignatureInvalid,
)

SIGNATURE_HEADER = "Sandbox-Signature"
POOL_SIZE = 64


def _new_session() -> requests.Session:
    session = requests.Session()
    # Retry only failures to connect: the request never left, so a retry cannot
    # charge twice. Anything after sending is reported as unknown, never retried here.
    retry = Retry(total=2, connect=2, read=0, status=0, other=0, redirect=0, backoff_factor=0.05, allowed_methods=None)
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE, max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


# One pooled session for the process: connections are reused across calls and threads.
_session = _new_session()


def _card(data: Mapping[str, Any] | None) -> CardDetails | None:
    if not data:
        return None
    return CardDetails(
        brand=data["brand"], last4=data["last4"], exp_month=int(data["exp_month"]), exp_year=int(data["exp_year"])
    )


def charge_from_json(data: Mapping[str, Any]) -> Charge:
    """A ``Charge`` from the sandbox's charge object."""
    return Charge(
        processor_id=data["id"],
        reference=data.get("reference") or "",
        status=data["status"],
        amount=int(data["amount"]),
        amount_captured=int(data.get("amount_captured") or 0),
        currency=data["currency"],
        decline_code=data.get("decline_code"),
        failure_message=data.get("failure_message"),
        card=_card(data.get("card")),
        amount_refunded=int(data.get("amount_refunded") or 0),
        disputed=bool(data.get("disputed")),
        next_action_url=data.get("next_action_url"),
        return_code=data.get("return_code"),
    )


def bank_account_from_json(data: Mapping[str, Any]) -> BankAccountDetails:
    """A ``BankAccountDetails`` from the sandbox's bank account object."""
    if not str(data["id"]).startswith("ba_"):
        raise ValueError("not a bank account token")
    return BankAccountDetails(
        processor_id=data["id"],
        country=data["country"],
        last4=data["last4"],
        fingerprint=data["fingerprint"],
        bank_name=data.get("bank_name"),
    )


def fx_rates_from_json(data: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """``(base, rates)`` from the sandbox's fx_rates object; every rate must be a positive decimal string."""
    base, rates = data["base"], data["rates"]
    if not isinstance(base, str) or not isinstance(rates, dict):
        raise TypeError("fx_rates without a base or rates")
    for currency, rate in rates.items():
        if not isinstance(currency, str) or not isinstance(rate, str):
            raise TypeError("a rate is not a decimal string")
        value = decimal.Decimal(rate)  # decimal.InvalidOperation is a ValueError
        if not value.is_finite() or value <= 0:
            raise ValueError(f"the rate of {currency} is not a positive number")
    return base, dict(rates)


def refund_from_json(data: Mapping[str, Any]) -> Refund:
    """A ``Refund`` from the sandbox's refund object."""
    return Refund(
        processor_id=data["id"],
        charge_id=data["charge"],
        reference=data.get("reference") or "",
        amount=int(data["amount"]),
        currency=data["currency"],
        status=data["status"],
        failure_reason=data.get("failure_reason"),
    )


def dispute_from_json(data: Mapping[str, Any]) -> Dispute:
    """A ``Dispute`` from the sandbox's dispute object."""
    evidence = data.get("evidence") or {}
    if not isinstance(evidence, dict):
        raise TypeError("evidence is not an object")
    return Dispute(
        processor_id=data["id"],
        charge_id=data["charge"],
        payment_reference=data.get("reference") or "",
        amount=int(data["amount"]),
        currency=data["currency"],
        reason=data["reason"],
        status=data["status"],
        evidence_due_by=int(data["evidence_due_by"]),
        evidence=dict(evidence),
    )


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Sandbox-Signature`` value the sandbox sends: ``t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


class SandboxProcessor:
    """``gateways.base.Processor`` over the sandbox's HTTP API.

    Settings are read at each call (unless given here), so that a test may
    point the cached instance at another sandbox with ``override_settings``.
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        webhook_secret: str | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        session: requests.Session | None = None,
    ):
        self._base_url = base_url
        self._api_key = api_key
        self._webhook_secret = webhook_secret
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._session = session or _session

    # --- configuration ---------------------------------------------------------

    @property
    def base_url(self) -> str:
        return (self._base_url or settings.PROCESSOR_BASE_URL).rstrip("/")

    @property
    def api_key(self) -> str:
        return self._api_key or settings.PROCESSOR_API_KEY

    @property
    def webhook_secret(self) -> str:
        return self._webhook_secret or settings.PROCESSOR_WEBHOOK_SECRET

    @property
    def timeout(self) -> tuple[float, float]:
        return (
            self._connect_timeout if self._connect_timeout is not None else settings.PROCESSOR_CONNECT_TIMEOUT,
            self._read_timeout if self._read_timeout is not None else settings.PROCESSOR_READ_TIMEOUT,
        )

    # --- the Processor interface -----------------------------------------------

    def retrieve_token(self, token: str) -> CardDetails:
        status, body = self._request("GET", f"/v1/tokens/{_quote(token)}")
        if status == 404:
            raise TokenInvalid(_message(body) or "No such token.", status_code=404)
        self._raise_for(status, body)
        card = _card(body.get("card"))
        if card is None:
            raise ProcessorUnavailable("The processor answered a token without a card.", status_code=status)
        return card

    def authorize(
        self, *, reference: str, amount: int, currency: str, token: str, capture: bool, idempotency_key: str
    ) -> Charge:
        payload = {"amount": amount, "currency": currency, "source": token, "capture": capture, "reference": reference}
        status, body = self._request("POST", "/v1/charges", json_body=payload, idempotency_key=idempotency_key)
        return self._charge_or_raise(status, body)

    def capture(self, *, processor_id: str, amount: int | None, idempotency_key: str) -> Charge:
        payload = {} if amount is None else {"amount": amount}
        status, body = self._request(
            "POST", f"/v1/charges/{_quote(processor_id)}/capture", json_body=payload, idempotency_key=idempotency_key
        )
        return self._charge_or_raise(status, body)

    def void(self, *, processor_id: str, idempotency_key: str) -> Charge:
        status, body = self._request(
            "POST", f"/v1/charges/{_quote(processor_id)}/void", json_body={}, idempotency_key=idempotency_key
        )
        return self._charge_or_raise(status, body)

    def lookup(self, *, idempotency_key: str) -> Charge | None:
        status, body = self._request("GET", "/v1/charges", params={"idempotency_key": idempotency_key})
        self._raise_for(status, body, rejected_is_unknown=True)
        charges = self._charge_list(body)
        return charges[0] if charges else None

    def charges_for(self, *, reference: str) -> list[Charge]:
        status, body = self._request("GET", "/v1/charges", params={"reference": reference})
        self._raise_for(status, body, rejected_is_unknown=True)
        return self._charge_list(body)

    def parse_webhook(self, *, body: bytes, headers: Mapping[str, str], tolerance_seconds: int) -> ProcessorEvent:
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
        expected = signature_header(self.webhook_secret, timestamp, body).rsplit("v1=", 1)[1]
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
                payload=payload,
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise WebhookSignatureInvalid(f"the signed body is not an event: {error}") from error
        return event

    def refund(self, *, processor_charge_id: str, amount: int, reference: str, idempotency_key: str) -> Refund:
        payload = {"charge": processor_charge_id, "amount": amount, "reference": reference}
        status, body = self._request("POST", "/v1/refunds", json_body=payload, idempotency_key=idempotency_key)
        self._raise_for(status, body)
        return self._parse(refund_from_json, body, status)

    def lookup_refund(self, *, idempotency_key: str) -> Refund | None:
        status, body = self._request("GET", "/v1/refunds", params={"idempotency_key": idempotency_key})
        self._raise_for(status, body, rejected_is_unknown=True)
        refunds = [self._parse(refund_from_json, item, status) for item in self._list_data(body)]
        return refunds[0] if refunds else None

    def retrieve_dispute(self, *, processor_dispute_id: str) -> Dispute:
        status, body = self._request("GET", f"/v1/disputes/{_quote(processor_dispute_id)}")
        self._raise_for(status, body)
        return self._parse(dispute_from_json, body, status)

    def submit_dispute_evidence(
        self, *, processor_dispute_id: str, evidence: dict[str, str], idempotency_key: str
    ) -> Dispute:
        status, body = self._request(
            "POST",
            f"/v1/disputes/{_quote(processor_dispute_id)}/evidence",
            json_body=dict(evidence),
            idempotency_key=idempotency_key,
        )
        self._raise_for(status, body)
        return self._parse(dispute_from_json, body, status)

    def accept_dispute(self, *, processor_dispute_id: str, idempotency_key: str) -> Dispute:
        status, body = self._request(
            "POST", f"/v1/disputes/{_quote(processor_dispute_id)}/close", json_body={}, idempotency_key=idempotency_key
        )
        self._raise_for(status, body)
        return self._parse(dispute_from_json, body, status)

    def open_dispute(self, *, processor_charge_id: str, reason: str = "general", amount: int | None = None) -> Dispute:
        """Sandbox control: the sandbox opens a dispute on the charge now and sends ``dispute.created``."""
        payload: dict[str, Any] = {"charge": processor_charge_id, "reason": reason}
        if amount is not None:
            payload["amount"] = amount
        status, body = self._request("POST", "/v1/control/disputes", json_body=payload)
        self._raise_for(status, body)
        return self._parse(dispute_from_json, body, status)

    def tokenize_bank_account(
        self,
        *,
        country: str,
        holder_name: str,
        account_number: str | None = None,
        routing_number: str | None = None,
        iban: str | None = None,
    ) -> BankAccountDetails:
        """``POST /v1/bank_accounts``. A refusal is ProcessorRequestRejected (``bank_account_invalid``, with the
        ``param`` at fault); anything else that is not a token is ProcessorUnavailable. No idempotency key: a
        repeated call makes another token of the same account (same fingerprint), which charges nothing."""
        payload: dict[str, Any] = {"country": country, "holder_name": holder_name}
        optional = {"account_number": account_number, "routing_number": routing_number, "iban": iban}
        payload.update({name: value for name, value in optional.items() if value is not None})
        status, body = self._request("POST", "/v1/bank_accounts", json_body=payload)
        self._raise_for(status, body)
        return self._parse(bank_account_from_json, body, status)

    def fx_rates(self) -> tuple[str, dict[str, str]]:
        """``GET /v1/fx_rates``: ``(base, {quote: rate})`` with the rates as decimal strings. Any failure,
        including an answer whose rates are not positive decimal strings, is ProcessorUnavailable."""
        status, body = self._request("GET", "/v1/fx_rates")
        self._raise_for(status, body, rejected_is_unknown=True)
        try:
            return fx_rates_from_json(body)
        except (KeyError, TypeError, ValueError, ArithmeticError) as error:
            raise ProcessorUnavailable(f"The processor answered unreadable exchange rates: {error}") from error

    def settlement_report(self, *, day: datetime.date) -> bytes:
        response = self._send("GET", f"/v1/settlements/{day.isoformat()}.csv", accept="text/csv")
        content_type = response.headers.get("Content-Type", "")
        if response.status_code == 200 and content_type.startswith("text/csv"):
            return response.content
        try:
            body = response.json()
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else {}
        self._raise_for(response.status_code, body, rejected_is_unknown=True)
        raise ProcessorUnavailable(
            f"The processor answered {response.status_code} {content_type or 'without a type'}, not a CSV report.",
            status_code=response.status_code,
        )

    # --- HTTP ------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        json_body: dict | None = None,
        params: dict | None = None,
        idempotency_key: str | None = None,
        accept: str = "application/json",
    ) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.api_key}", "Accept": accept}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        try:
            return self._session.request(
                method,
                self.base_url + path,
                json=json_body,
                params=params,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.Timeout as error:
            raise ProcessorUnavailable(f"The processor did not answer in time: {error}") from error
        except requests.RequestException as error:
            raise ProcessorUnavailable(f"The processor could not be reached: {error}") from error

    def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: dict | None = None,
        params: dict | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[int, dict]:
        response = self._send(method, path, json_body=json_body, params=params, idempotency_key=idempotency_key)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            if response.status_code < 500 and response.status_code != 409:
                # An answer we cannot read may still have charged: unknown, not rejected.
                raise ProcessorUnavailable(
                    f"The processor answered {response.status_code} without a JSON object.",
                    status_code=response.status_code,
                )
            body = {}
        return response.status_code, body

    def _raise_for(self, status: int, body: dict, *, rejected_is_unknown: bool = False) -> None:
        if 200 <= status < 300:
            return
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        code = error.get("code") or f"http_{status}"
        message = error.get("message") or f"The processor answered {status}."
        param = error.get("param") if isinstance(error.get("param"), str) else None
        # 409: the same key is still executing; 429: try later. Neither says what happened.
        if status >= 500 or status in (409, 429) or status < 200 or 300 <= status < 400:
            raise ProcessorUnavailable(message, code=code, status_code=status)
        if rejected_is_unknown:
            # A read that the processor refuses tells us nothing about whether money moved.
            raise ProcessorUnavailable(message, code=code, status_code=status)
        if code == "token_invalid":
            raise TokenInvalid(message, code=code, status_code=status, param=param)
        raise ProcessorRequestRejected(message, code=code, status_code=status, param=param)

    def _charge_or_raise(self, status: int, body: dict) -> Charge:
        if status == 402:
            charge_data = body.get("charge")
            error = body.get("error") or {}
            if not isinstance(charge_data, dict):
                raise ProcessorUnavailable("The processor declined without the charge.", status_code=402)
            charge = self._parse_charge(charge_data, status)
            raise CardDeclined(
                charge=charge,
                decline_code=error.get("decline_code") or charge.decline_code or "generic_decline",
                message=error.get("message") or charge.failure_message or "The card was declined.",
            )
        self._raise_for(status, body)
        return self._parse_charge(body, status)

    def _parse_charge(self, data: dict, status: int) -> Charge:
        try:
            return charge_from_json(data)
        except (KeyError, TypeError, ValueError) as error:
            raise ProcessorUnavailable(f"The processor answered {status} with an unreadable charge.") from error

    def _charge_list(self, body: dict) -> list[Charge]:
        return [self._parse_charge(item, 200) for item in self._list_data(body)]

    def _list_data(self, body: dict) -> list:
        data = body.get("data")
        if not isinstance(data, list):
            raise ProcessorUnavailable("The processor answered a list without data.")
        return data

    def _parse(self, parse, data: Any, status: int):
        """``parse(data)``, or ProcessorUnavailable: a success we cannot read may still have moved money."""
        try:
            return parse(data)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ProcessorUnavailable(f"The processor answered {status} with an unreadable object.") from error


def _quote(identifier: str) -> str:
    return quote(identifier, safe="")


def _message(body: dict) -> str | None:
    error = body.get("error")
    return error.get("message") if isinstance(error, dict) else None


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
