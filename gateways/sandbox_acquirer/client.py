"""The platform's client of a sandbox acquirer: HTTP calls in, ``gateways.base`` dataclasses out.

Every failure is translated here, once, into the types of ``gateways.base``:
402 is a definite decline (CardDeclined, with the declined charge); a connection
refused or never established means the request never left (ProcessorNotReached);
a timeout, any other connection error, a 5xx, a 409 (the same key still in
flight) or an unreadable answer means the outcome is unknown
(ProcessorUnavailable); any other 4xx is a definite refusal that charged nothing
(ProcessorRequestRejected, TokenInvalid for an unknown token; marked
``retry_elsewhere`` when it is about this acquirer, not the payment).
Refunds, disputes, payouts and bank account tokenisation follow the same rules; reads
(look-ups, lists, the settlement report, exchange rates) turn every refusal into
ProcessorUnavailable, because a refused read says nothing about money.

One instance per configured processor name: its base URL, key, secret, timeouts
and fees are ``settings.PROCESSORS[name]``, read at each call, so that a test may
point it at another sandbox by replacing ``settings.PROCESSORS``.

HTTP goes through urllib3 directly: one ``PoolManager`` for the process (thread-safe,
keep-alive connections per host), never through ``requests``, whose session machinery
(environment, hooks, cookies, prepared requests) cost about a tenth of the web tier's
CPU per payment for nothing this client uses (docs/performance.md, issue 14).
"""

import datetime
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol
from urllib.parse import quote, urlencode

import certifi
import urllib3
from django.conf import settings
from urllib3.exceptions import (
    ClosedPoolError,
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    ReadTimeoutError,
    ResponseError,
    SSLError,
)
from urllib3.util import make_headers
from urllib3.util.retry import Retry

from gateways.base import (
    BankAccountDetails,
    CardDeclined,
    CardDetails,
    Charge,
    Dispute,
    Payout,
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
    payout_from_json,
    refund_from_json,
)
from gateways.sandbox_acquirer.settlement import report_from_bytes, report_from_file
from gateways.sandbox_acquirer.webhooks import parse_webhook

HEALTH_TIMEOUT = (0.5, 1.0)
# Refusals that say "not here" rather than "not this payment": another acquirer may take the request.
RETRY_ELSEWHERE_CODES = frozenset({"currency_not_supported"})
POOL_SIZE = 64


# Retry only failures to connect: the request never left, so a retry cannot
# charge twice. Anything after sending is reported as unknown, never retried here.
# (A 413, 429 or 503 that carries Retry-After ends the call as a spent retry: unknown, too.)
RETRY = Retry(total=2, connect=2, read=0, status=0, other=0, redirect=0, backoff_factor=0.05, allowed_methods=None)
# What every call accepts, as requests said it: compressed answers are decoded by urllib3.
ACCEPT_ENCODING = ", ".join(re.split(r",\s*", make_headers(accept_encoding=True)["accept-encoding"]))


def _new_pool_manager() -> urllib3.PoolManager:
    """The connection pools of one process: up to 4 hosts, ``POOL_SIZE`` kept-alive connections each. Not
    blocking: a thread that finds every connection busy opens one more (and closes it after, beyond the size).
    No proxy and nothing from the environment (HTTP(S)_PROXY, NO_PROXY, .netrc): the processor is configured by
    its URL (settings.PROCESSORS) alone. HTTPS is verified against certifi's roots, as requests verified it."""
    return urllib3.PoolManager(num_pools=4, maxsize=POOL_SIZE, block=False, ca_certs=certifi.where())


# One pool manager for the process: connections are reused across calls and threads.
_pool_manager = _new_pool_manager()


@dataclass(frozen=True, slots=True)
class _Answer:
    """An answer of the processor, read whole."""

    status: int
    content_type: str
    content: bytes

    def json(self) -> Any:
        """The body as JSON, decoded as requests' ``Response.json()`` decoded it: with the charset the
        Content-Type names, else UTF-8 for ``application/json`` and ISO-8859-1 for a text type; without any of
        these, as UTF-8, -16 or -32 (JSON's own detection). Bytes that do not decode are replaced (where
        requests guessed another encoding, only the text inside strings can differ). Raises ValueError when the
        body is not JSON."""
        charset = _charset(self.content_type)
        if charset is None:
            try:
                return json.loads(self.content)
            except UnicodeDecodeError:
                charset = "utf-8"
        try:
            text = self.content.decode(charset, errors="replace")
        except LookupError:  # a charset Python does not know
            text = self.content.decode(errors="replace")
        return json.loads(text)


def _charset(content_type: str) -> str | None:
    """The encoding requests read a body of ``content_type`` with, or None when it would have guessed."""
    media_type, _, parameters = content_type.partition(";")
    charset = None
    for parameter in parameters.split(";"):
        name, equals, value = parameter.partition("=")
        if equals and name.strip("\"' ").lower() == "charset":
            charset = value.strip("\"' ")
    if charset is not None:
        return charset
    if "text" in media_type:
        return "ISO-8859-1"
    if "application/json" in media_type:
        return "utf-8"
    return None


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
        pool_manager: urllib3.PoolManager | None = None,
    ):
        self.name = name or settings.PROCESSOR_DEFAULT
        self._base_url = base_url
        self._api_key = api_key
        self._webhook_secret = webhook_secret
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._pool_manager = pool_manager or _pool_manager

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
        """``GET /healthz`` with a short timeout (health is probed often: it must never wait long). Raises
        ProcessorNotReached when nothing could be sent, ProcessorUnavailable for any other failure or answer
        but 200."""
        answer = self._exchange("GET", "/healthz", headers={"Accept": "*/*"}, timeout=HEALTH_TIMEOUT)
        if answer.status != 200:
            raise ProcessorUnavailable(f"The processor answered {answer.status}.", status_code=answer.status)

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

    def create_payout(
        self, *, amount: int, currency: str, destination: str, reference: str, idempotency_key: str
    ) -> Payout:
        """``POST /v1/payouts``: ``in_transit`` at once, ``paid`` or ``failed`` later (``payout.paid`` /
        ``payout.failed``). Errors as for a refund: 4xx rejected (``token_invalid`` for an unknown destination is
        TokenInvalid), 409, 5xx and anything unreadable unknown."""
        payload = {"amount": amount, "currency": currency, "destination": destination, "reference": reference}
        status, body = self._request("POST", "/v1/payouts", json_body=payload, idempotency_key=idempotency_key)
        self._raise_for(status, body)
        return self._parse(payout_from_json, body, status)

    def lookup_payout(self, *, idempotency_key: str) -> Payout | None:
        status, body = self._request("GET", "/v1/payouts", params={"idempotency_key": idempotency_key})
        self._raise_for(status, body, rejected_is_unknown=True)
        payouts = [self._parse(payout_from_json, item, status) for item in self._list_data(body)]
        return payouts[0] if payouts else None

    def retrieve_payout(self, *, processor_payout_id: str) -> Payout:
        status, body = self._request("GET", f"/v1/payouts/{_quote(processor_payout_id)}")
        self._raise_for(status, body, rejected_is_unknown=True)
        return self._parse(payout_from_json, body, status)

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
        answer = self._send("GET", f"/v1/settlements/{day.isoformat()}.csv", accept="text/csv")
        if answer.status == 200 and answer.content_type.startswith("text/csv"):
            return report_from_bytes(answer.content)
        try:
            body = answer.json()
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else {}
        self._raise_for(answer.status, body, rejected_is_unknown=True)
        raise ProcessorUnavailable(
            f"The processor answered {answer.status} {answer.content_type or 'without a type'}, not a CSV report.",
            status_code=answer.status,
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
    ) -> _Answer:
        """One API call: ``path`` (with ``params`` as its query) under the base URL, ``json_body`` as JSON, the
        API key and ``idempotency_key`` in its headers, the configured timeouts. Raises as ``_exchange``."""
        headers = {"Authorization": f"Bearer {self.api_key}", "Accept": accept}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        body = None
        if json_body is not None:
            # As requests encoded it: ASCII JSON, ", " and ": " separators, never NaN or Infinity.
            body = json.dumps(json_body, allow_nan=False).encode()
            headers["Content-Type"] = "application/json"
        if params:
            path = f"{path}?{urlencode(params)}"
        return self._exchange(method, path, headers=headers, body=body, timeout=self.timeout)

    def _exchange(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str],
        timeout: tuple[float, float],
        body: bytes | None = None,
    ) -> _Answer:
        """The processor's answer to one request, read whole, redirects not followed, retried only where the
        connection was never made (``RETRY``).

        Raises ProcessorNotReached when the request provably never left (``_never_sent``), ProcessorUnavailable
        for anything else that kept an answer from us: a timeout, a connection reset or closed after sending,
        an answer cut short or undecodable.
        """
        # Each urllib3 error ends as requests' adapter made it end (the same class and message as before
        # issue 14's change); with RETRY, a timeout or a reset arrives as a MaxRetryError.
        headers["Accept-Encoding"] = ACCEPT_ENCODING
        try:
            response = self._pool_manager.urlopen(
                method,
                self.base_url + path,
                body=body,
                headers=headers,
                timeout=urllib3.Timeout(connect=timeout[0], read=timeout[1]),
                retries=RETRY,
                redirect=False,
                preload_content=False,
            )
        except MaxRetryError as error:
            if _never_sent(error):
                raise ProcessorNotReached(f"The processor could not be reached: {error}") from error
            if isinstance(error.reason, ResponseError):  # a Retry-After answer (see RETRY)
                raise ProcessorUnavailable(f"The processor could not be reached: {error}") from error
            raise ProcessorUnavailable(f"The connection to the processor failed: {error}") from error
        except ReadTimeoutError as error:
            raise ProcessorUnavailable(f"The processor did not answer in time: {error}") from error
        except (ProtocolError, ClosedPoolError, ProxyError, SSLError, OSError) as error:
            raise ProcessorUnavailable(f"The connection to the processor failed: {error}") from error
        except (HTTPError, ValueError) as error:  # a URL or a header that cannot be sent
            raise ProcessorUnavailable(f"The processor could not be reached: {error}") from error
        try:
            # Reading to the end puts the connection back in the pool; a failure closes it.
            content = response.read()
        except (ReadTimeoutError, SSLError) as error:
            raise ProcessorUnavailable(f"The connection to the processor failed: {error}") from error
        except HTTPError as error:  # cut short (ProtocolError) or undecodable (DecodeError)
            raise ProcessorUnavailable(f"The processor could not be reached: {error}") from error
        return _Answer(response.status, response.headers.get("Content-Type", ""), content)

    def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: dict | None = None,
        params: dict | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[int, dict]:
        answer = self._send(method, path, json_body=json_body, params=params, idempotency_key=idempotency_key)
        try:
            body = answer.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            if answer.status < 500 and answer.status != 409:
                # An answer we cannot read may still have charged: unknown, not rejected.
                raise ProcessorUnavailable(
                    f"The processor answered {answer.status} without a JSON object.", status_code=answer.status
                )
            body = {}
        return answer.status, body

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


def _never_sent(error: MaxRetryError) -> bool:
    """True only when no byte of the request left: the connection was refused or never established (urllib3
    gave up retrying the connect: a name that did not resolve is a NewConnectionError too). A reset or a
    closed connection after sending is not proof: it is unknown."""
    return isinstance(error.reason, (NewConnectionError, ConnectTimeoutError))


def _quote(identifier: str) -> str:
    return quote(identifier, safe="")


def _message(body: dict) -> str | None:
    error = body.get("error")
    return error.get("message") if isinstance(error, dict) else None
