"""The platform's client of a sandbox acquirer: HTTP calls in, ``gateways.base`` dataclasses out.

Every failure is translated here, once, into the types of ``gateways.base``:
402 is a definite decline (CardDeclined, with the declined charge); a connection
refused or never established means the request never left (ProcessorNotReached);
a timeout, any other connection error, a 5xx, a 409 (the same key still in
flight) or an unreadable answer means the outcome is unknown
(ProcessorUnavailable); any other 4xx is a definite refusal that charged nothing
(ProcessorRequestRejected, TokenInvalid for an unknown token; marked
``retry_elsewhere`` when it is about this acquirer, not the payment).
Refunds, disputes and bank account tokenisation follow the same rules; reads
(look-ups, lists, the settlement report, exchange rates) turn every refusal into
ProcessorUnavailable, because a refused read says nothing about money.

One instance per configured processor name: its base URL, key, secret, timeouts
and fees are ``settings.PROCESSORS[name]``, read at each call, so that a test may
point it at another sandbox by replacing ``settings.PROCESSORS``.
"""

import datetime
from collections.abc import Mapping
from typing import Any, BinaryIO, Protocol
from urllib.parse import quote

import requests
import urllib3.exceptions
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
    ProcessorNotReached,
    ProcessorRequestRejected,
    ProcessorUnavailable,
    Refund,
    SettlementReport,
    TokenInvalid,
)
from gateways.sandbox_acquirer.mapping import (
    bank_account_from_json,
    card_from_json,
    charge_from_json,
    dispute_from_json,
    fx_rates_from_json,
    refund_from_json,
)
from gateways.sandbox_acquirer.settlement import report_from_bytes, report_from_file
from gateways.sandbox_acquirer.webhooks import parse_webhook

HEALTH_TIMEOUT = (0.5, 1.0)
# Refusals that say "not here" rather than "not this payment": another acquirer may take the request.
RETRY_ELSEWHERE_CODES = frozenset({"currency_not_supported"})
POOL_SIZE = 64


def _new_session() -> requests.Session:
    session = requests.Session()
    # The processor is configured by its URL (settings.PROCESSORS), never by HTTP(S)_PROXY, NO_PROXY or
    # REQUESTS_CA_BUNDLE: without this, requests reads and parses those variables (and .netrc) on every call.
    session.trust_env = False
    # Retry only failures to connect: the request never left, so a retry cannot
    # charge twice. Anything after sending is reported as unknown, never retried here.
    retry = Retry(total=2, connect=2, read=0, status=0, other=0, redirect=0, backoff_factor=0.05, allowed_methods=None)
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE, max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


# One pooled session for the process: connections are reused across calls and threads.
_session = _new_session()


class SandboxControls(Protocol):
    """What only a sandbox can be asked: tests play the cardholder's bank with it. Not part of ``Processor``."""

    def open_dispute(
        self, *, processor_charge_id: str, reason: str = "general", amount: int | None = None
    ) -> Dispute: ...


class SandboxProcessor:
    """``gateways.base.Processor`` (and ``SandboxControls``) over one sandbox acquirer's HTTP API.

    ``name`` is its key in ``settings.PROCESSORS``; the keyword arguments, when given, replace that
    configuration (tests that talk to a sandbox directly).
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        webhook_secret: str | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        session: requests.Session | None = None,
    ):
        self.name = name or settings.PROCESSOR_DEFAULT
        self._base_url = base_url
        self._api_key = api_key
        self._webhook_secret = webhook_secret
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._session = session or _session

    # --- configuration ---------------------------------------------------------

    @property
    def config(self) -> Mapping[str, Any]:
        return settings.PROCESSORS[self.name]

    @property
    def base_url(self) -> str:
        return (self._base_url or self.config["base_url"]).rstrip("/")

    @property
    def api_key(self) -> str:
        return self._api_key or self.config["api_key"]

    @property
    def webhook_secret(self) -> str:
        return self._webhook_secret or self.config["webhook_secret"]

    @property
    def timeout(self) -> tuple[float, float]:
        return (
            self._connect_timeout if self._connect_timeout is not None else self.config["connect_timeout"],
            self._read_timeout if self._read_timeout is not None else self.config["read_timeout"],
        )

    # --- the Processor interface -----------------------------------------------

    def health(self) -> None:
        """``GET /healthz`` with a short timeout (health is probed often: it must never wait long)."""
        try:
            response = self._session.get(self.base_url + "/healthz", timeout=HEALTH_TIMEOUT, allow_redirects=False)
        except requests.ConnectionError as error:
            if _never_sent(error):
                raise ProcessorNotReached(f"The processor could not be reached: {error}") from error
            raise ProcessorUnavailable(f"The processor could not be reached: {error}") from error
        except requests.RequestException as error:
            raise ProcessorUnavailable(f"The processor could not be reached: {error}") from error
        if response.status_code != 200:
            raise ProcessorUnavailable(
                f"The processor answered {response.status_code}.", status_code=response.status_code
            )

    def retrieve_token(self, token: str) -> CardDetails:
        status, body = self._request("GET", f"/v1/tokens/{_quote(token)}")
        if status == 404:
            raise TokenInvalid(_message(body) or "No such token.", status_code=404)
        self._raise_for(status, body)
        card = self._parse(card_from_json, body.get("card"), status) if body.get("card") else None
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
        """Verify the ``Sandbox-Signature`` of ``body`` with this processor's secret and decode the event
        (``gateways.sandbox_acquirer.webhooks``). Raises WebhookSignatureInvalid."""
        return parse_webhook(
            secret=self.webhook_secret, body=body, headers=headers, tolerance_seconds=tolerance_seconds
        )

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

    def settlement_report(self, *, day: datetime.date) -> SettlementReport:
        """``GET /v1/settlements/<day>.csv``, read by ``gateways.sandbox_acquirer.settlement``. Anything but a
        CSV answer is ProcessorUnavailable."""
        response = self._send("GET", f"/v1/settlements/{day.isoformat()}.csv", accept="text/csv")
        content_type = response.headers.get("Content-Type", "")
        if response.status_code == 200 and content_type.startswith("text/csv"):
            return report_from_bytes(response.content)
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

    def read_settlement_report(self, *, file: BinaryIO) -> SettlementReport:
        """A sandbox settlement report (its CSV) kept in ``file``."""
        return report_from_file(file)

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
        except requests.ConnectionError as error:
            if _never_sent(error):
                raise ProcessorNotReached(f"The processor could not be reached: {error}") from error
            raise ProcessorUnavailable(f"The connection to the processor failed: {error}") from error
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
        raise ProcessorRequestRejected(
            message, code=code, status_code=status, param=param, retry_elsewhere=code in RETRY_ELSEWHERE_CODES
        )

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


def _never_sent(error: requests.ConnectionError) -> bool:
    """True only when no byte of the request left: the connection was refused or never established (urllib3
    gave up retrying the connect). A reset or a closed connection after sending is not proof: it is unknown."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = error.args[0] if error.args else None
    if isinstance(reason, urllib3.exceptions.MaxRetryError):
        reason = reason.reason
    return isinstance(reason, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError))


def _quote(identifier: str) -> str:
    return quote(identifier, safe="")


def _message(body: dict) -> str | None:
    error = body.get("error")
    return error.get("message") if isinstance(error, dict) else None
