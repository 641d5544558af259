"""Client threads: seeded merchants that create, confirm, capture, cancel and refund through the API.

Each client draws its flows from ``random.Random(f"{seed}:{client}")`` before acting on
them, so the sequence of operations a client attempts depends only on the seed (what the
platform answers decides how far each flow gets). Every POST carries an Idempotency-Key
and is retried with the same key and the same body after a timeout, a dropped
connection, a 5xx (unless it is a replayed, stored 5xx: retrying cannot change it), a 409
``idempotency_key_in_use`` or a 429. Every key is logged with its request and the last
answer the client was given, for the checks.

A flow pays in USD or in EUR (drawn with the rest of its plan): the stack's routing rules send euros to
the acquirer ``sandbox_eu`` and dollars to ``sandbox``, each with the other as fallback.

Some flows race on purpose: the same request sent twice at once with one key, two or
three captures of different amounts at once, a capture against a cancel, two refunds
that together exceed what was captured.

Payouts (issue 15): a share of the flows that captured money then pay part of what they captured out
of the merchant's available balance (``POST /api/v1/payouts``, in USD, the merchant's settlement
currency), some to the account the sandbox fails (``account_closed``), some canceled at once (racing
the worker that sends it: canceled, or ``payout_not_cancelable``), some with the create sent twice at
once. ``400 balance_insufficient`` is a legitimate answer: the clients pay out, refund and dispute the
same balance concurrently. The merchant's two bank accounts are added once, by the first flow that pays
out (``MerchantAccounts``).
"""

import json
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import requests

# Test tokens of the sandbox and how often a flow uses each (gateways/README.md).
TOKENS = [
    ("tok_visa", 34),
    ("tok_mastercard", 10),
    ("tok_chargeDeclined", 10),
    ("tok_insufficientFunds", 5),
    ("tok_processingError", 5),
    ("tok_timeout", 14),
    ("tok_createDispute", 8),
    ("tok_refundFailure", 8),
    ("tok_visa_tokenized", 6),
]
# A card tokenised through the sandbox's /v1/tokens (approved), so the platform resolves a token it did not know.
TEST_CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}
# The currencies of the flows and how often each is drawn (the merchant settles in USD: euros are converted).
CURRENCIES = [("USD", 55), ("EUR", 45)]
# What a flow that captured does with the money afterwards, and how often: nothing; a payout to the merchant's
# default account; one it cancels at once; one to the account the sandbox fails (the amount comes back); a
# payout of the whole available balance, as GET /api/v1/balance shows it (racing the other clients' payouts
# and refunds: balance_insufficient is a true answer then).
PAYOUTS = [("none", 68), ("pay", 18), ("cancel", 7), ("closed", 5), ("all", 2)]
PAYOUT_CURRENCY = "USD"
# The merchant's US bank accounts (docs/api.md, external accounts): payouts go to "default" (its first, so
# the currency's default); "closed" ends in 1116, the sandbox's closed account: payouts to it fail.
BANK_ACCOUNTS = {
    "default": {
        "country": "US",
        "holder_name": "Chaos Merchant",
        "routing_number": "110000000",
        "account_number": "000123456789",
    },
    "closed": {
        "country": "US",
        "holder_name": "Chaos Merchant",
        "routing_number": "110000000",
        "account_number": "000111111116",
    },
}
READ_TIMEOUT = 12.0
CONNECT_TIMEOUT = 3.0
REQUEST_BUDGET_SECONDS = 45.0
MAX_ATTEMPTS = 20


@dataclass
class Call:
    """One idempotency key: the request it names and what the client was told."""

    key: str
    op: str  # create, confirm, capture, cancel, refund, external_account, payout, payout_cancel
    path: str
    body: dict
    client: int
    flow: int
    payment_id: str | None = None
    payout_id: str | None = None  # payout, payout_cancel: the payout (po_…) the answer or the path names
    amount: int | None = None  # the amount asked for (capture, refund, payout), None: all
    confirm: bool = False  # create with confirm: true
    race: str = ""  # which race the call took part in, if any
    twin: bool = False  # a second sender of the same key at the same time
    attempts: list[str] = field(default_factory=list)
    status: int | None = None  # the last answer given (None: no answer at all)
    answer: Any = None
    replayed: bool = False
    gave_up: bool = False

    @property
    def outcome(self) -> str:
        if self.status is None:
            return "no_answer"
        if self.status == 402:
            return "declined"
        if self.status == 409:
            return "conflict"
        if 200 <= self.status < 300:
            return "ok"
        if self.status >= 500:
            return "stored_5xx" if self.replayed else "5xx"
        return f"refused_{self.status}"

    @property
    def definite(self) -> bool:
        """An answer that must replay identically: a success, a decline or a refusal. Not a 409, 429 or
        5xx, nor a payment still ``processing`` (its outcome is unknown: a retry may learn it)."""
        if self.status is None or self.status >= 500 or self.status in (409, 429):
            return False
        payment = self.payment_from_answer()
        return payment is None or payment.get("status") != "processing"

    def payment_from_answer(self) -> dict | None:
        if not isinstance(self.answer, dict):
            return None
        if self.answer.get("object") == "payment":
            return self.answer
        error = self.answer.get("error")
        if isinstance(error, dict) and isinstance(error.get("payment"), dict):
            return error["payment"]
        return None


@dataclass
class FlowPlan:
    token: str
    amount: int
    manual: bool
    inline_confirm: bool
    same_key_race: bool
    capture: str  # full, partial, cancel, race_capture, race_cancel
    capture_fractions: list[float]
    refund: str  # none, partial, full, two, race
    refund_fractions: list[float]
    currency: str
    payout: str  # none, pay, cancel, closed, all (PAYOUTS)
    payout_fraction: float


def plan_flow(rng: random.Random) -> FlowPlan:
    """Every random draw of a flow, made before it runs, so the plan depends only on the seed."""
    tokens, weights = zip(*TOKENS, strict=True)
    currencies, currency_weights = zip(*CURRENCIES, strict=True)
    payouts, payout_weights = zip(*PAYOUTS, strict=True)
    return FlowPlan(
        token=rng.choices(tokens, weights)[0],
        amount=rng.randrange(500, 20000),
        manual=rng.random() < 0.3,
        inline_confirm=rng.random() < 0.5,
        same_key_race=rng.random() < 0.1,
        capture=rng.choices(["full", "partial", "cancel", "race_capture", "race_cancel"], [45, 20, 10, 15, 10])[0],
        capture_fractions=[rng.uniform(0.2, 0.95) for _ in range(3)],
        refund=rng.choices(["none", "partial", "full", "two", "race"], [45, 25, 10, 10, 10])[0],
        refund_fractions=[rng.uniform(0.1, 0.45), rng.uniform(0.1, 0.45)],
        currency=rng.choices(currencies, currency_weights)[0],
        payout=rng.choices(payouts, payout_weights)[0],
        payout_fraction=rng.uniform(0.1, 0.6),
    )


class KeyLog:
    """Every key used, in the order first sent; thread-safe."""

    def __init__(self):
        self.calls: list[Call] = []
        self.attempts: Counter = Counter()
        self.flows = 0
        self.flow_plans: Counter = Counter()
        self.polls = 0
        self._lock = threading.Lock()

    def add(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def count_attempt(self, label: str) -> None:
        with self._lock:
            self.attempts[label] += 1

    def count_flow(self, plan: FlowPlan) -> None:
        with self._lock:
            self.flows += 1
            self.flow_plans[f"token:{plan.token}"] += 1
            self.flow_plans[f"currency:{plan.currency}"] += 1
            if plan.manual:
                self.flow_plans[f"capture:{plan.capture}"] += 1
            self.flow_plans[f"refund:{plan.refund}"] += 1
            self.flow_plans[f"payout:{plan.payout}"] += 1
            if plan.same_key_race:
                self.flow_plans["same_key_race"] += 1


class Api:
    """The merchant API over one ``requests.Session`` per thread."""

    def __init__(
        self, base_url: str, api_key: str, log: KeyLog, hard_stop: float, sandbox_urls: dict[str, str] | None = None
    ):
        self.base_url = base_url
        self.api_key = api_key
        self.log = log
        self.hard_stop = hard_stop
        self.sandbox_urls = sandbox_urls or {}  # the sandbox that tokenises a card, by the payment's currency
        self._local = threading.local()

    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.headers["Authorization"] = f"Bearer {self.api_key}"
        return session

    def _drop_session(self) -> None:
        session = getattr(self._local, "session", None)
        if session is not None:
            session.close()
        self._local.session = None

    def post_once(self, path: str, body: dict, key: str, timeout: float = READ_TIMEOUT):
        """One POST: ``(status, parsed body, replayed)``, or raises requests.RequestException."""
        response = self.session().post(
            self.base_url + path,
            data=json.dumps(body),
            timeout=(CONNECT_TIMEOUT, timeout),
            headers={"Idempotency-Key": key, "Content-Type": "application/json"},
        )
        try:
            parsed = response.json()
        except ValueError:
            parsed = {"_raw": response.text[:500]}
        return response.status_code, parsed, response.headers.get("Idempotent-Replayed") == "true"

    def perform(self, call: Call, rng: random.Random) -> Call:
        """Send ``call`` until it has a definite answer, retrying with the same key and body."""
        started = time.monotonic()
        deadline = min(started + REQUEST_BUDGET_SECONDS, self.hard_stop)
        backoff = 0.25
        while True:
            label = ""
            try:
                status, body, replayed = self.post_once(call.path, call.body, call.key)
            except requests.Timeout:
                label = "timeout"
                self._drop_session()
            except requests.ConnectionError:
                label = "connection_error"
                self._drop_session()
            except requests.RequestException:
                label = "request_error"
                self._drop_session()
            else:
                call.status, call.answer, call.replayed = status, body, replayed
                label = str(status)
                # 409: the key, or another operation on the payment, is still in flight; 429: slow down.
                retry = (status >= 500 and not replayed) or status in (409, 429)
                if not retry:
                    call.attempts.append(label)
                    self.log.count_attempt(label)
                    break
            call.attempts.append(label)
            self.log.count_attempt(label)
            if len(call.attempts) >= MAX_ATTEMPTS or time.monotonic() + backoff > deadline:
                call.gave_up = True
                break
            time.sleep(backoff * rng.uniform(0.5, 1.0) + 0.05)
            backoff = min(backoff * 2, 4.0)
        if call.payment_id is None:
            payment = call.payment_from_answer()
            if payment is not None:
                call.payment_id = payment.get("id")
        if call.payout_id is None and isinstance(call.answer, dict) and call.answer.get("object") == "payout":
            call.payout_id = call.answer.get("id")
        return call

    def get_payment(self, payment_id: str) -> dict | None:
        try:
            response = self.session().get(
                f"{self.base_url}/api/v1/payments/{payment_id}", timeout=(CONNECT_TIMEOUT, READ_TIMEOUT)
            )
        except requests.RequestException:
            self._drop_session()
            return None
        if response.status_code != 200:
            return None
        return response.json()

    def available(self, currency: str) -> int | None:
        """The merchant's available balance in ``currency`` (``GET /api/v1/balance``), None when not answered."""
        try:
            response = self.session().get(f"{self.base_url}/api/v1/balance", timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))
        except requests.RequestException:
            self._drop_session()
            return None
        if response.status_code != 200:
            return None
        return next((b["amount"] for b in response.json().get("available", []) if b["currency"] == currency), 0)

    def sandbox_token(self, currency: str) -> str | None:
        """A fresh card token from the /v1/tokens of the sandbox the payment is routed to (a token belongs to
        one acquirer); the platform then resolves it there."""
        try:
            response = requests.post(
                f"{self.sandbox_urls[currency]}/v1/tokens",
                json=TEST_CARD,
                timeout=(CONNECT_TIMEOUT, 5),
                headers={"Authorization": "Bearer sk_sandbox_development"},
            )
        except requests.RequestException:
            return None
        return response.json().get("id") if response.status_code == 201 else None


class MerchantAccounts:
    """The merchant's bank accounts for payouts (``BANK_ACCOUNTS``), added once, by the first flow that pays out.

    Each is added with a key of its own (``chaos-<seed>-external-account-<name>``), retried like every POST. A
    flow that finds another one adding them does not wait: it skips its payout. When an attempt ends without an
    answer, a later flow sends the same request with the same key again (the key's replay is checked too)."""

    def __init__(self, seed: int, api: Api, log: KeyLog):
        self.seed = seed
        self.api = api
        self.log = log
        self.ids: dict[str, str] = {}
        self._lock = threading.Lock()

    def ensure(self, client: int, flow: int, rng: random.Random) -> dict[str, str] | None:
        """Every account's id (``{"default": "ea_…", "closed": "ea_…"}``), adding those still missing; None when
        they are not all there (being added by another flow, or the platform could not add one now)."""
        if len(self.ids) == len(BANK_ACCOUNTS):
            return self.ids
        if not self._lock.acquire(blocking=False):
            return None
        try:
            for name, bank_account in BANK_ACCOUNTS.items():
                if name in self.ids:
                    continue
                call = Call(
                    key=f"chaos-{self.seed}-external-account-{name}",
                    op="external_account",
                    path="/api/v1/external_accounts",
                    body={"currency": PAYOUT_CURRENCY, "bank_account": bank_account},
                    client=client,
                    flow=flow,
                )
                self.log.add(call)
                self.api.perform(call, rng)
                answer = call.answer if isinstance(call.answer, dict) else {}
                if call.status != 201 or answer.get("object") != "external_account":
                    return None
                self.ids[name] = answer["id"]
            return self.ids
        finally:
            self._lock.release()


class Client(threading.Thread):
    """One merchant integration: flow after flow until ``end_at``."""

    def __init__(
        self, number: int, seed: int, api: Api, log: KeyLog, end_at: float, accounts: MerchantAccounts | None = None
    ):
        super().__init__(name=f"chaos-client-{number}", daemon=True)
        self.number = number
        self.seed = seed
        self.api = api
        self.log = log
        self.end_at = end_at
        self.accounts = accounts or MerchantAccounts(seed, api, log)
        self.rng = random.Random(f"{seed}:client:{number}")
        self.retry_rng = random.Random(f"{seed}:retry:{number}")
        self.pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix=f"chaos-race-{number}")
        self.errors: list[str] = []

    def run(self) -> None:
        flow = 0
        try:
            while time.monotonic() < self.end_at:
                plan = plan_flow(self.rng)
                self.log.count_flow(plan)
                try:
                    self.run_flow(flow, plan)
                except Exception as error:  # noqa: BLE001 - a client bug must not stop the run; it is reported
                    self.errors.append(f"flow {flow}: {type(error).__name__}: {error}")
                flow += 1
        finally:
            self.pool.shutdown(wait=True)

    # --- one flow ------------------------------------------------------------------------

    def _key(self, flow: int, op: str) -> str:
        return f"chaos-{self.seed}-c{self.number}-f{flow}-{op}"

    def _call(self, flow: int, op: str, path: str, body: dict, **extra) -> Call:
        call = Call(
            key=self._key(flow, extra.pop("suffix", op)),
            op=op,
            path=path,
            body=body,
            client=self.number,
            flow=flow,
            **extra,
        )
        self.log.add(call)
        return call

    def _send(self, call: Call) -> Call:
        return self.api.perform(call, self.retry_rng)

    def _send_together(self, calls: list[Call]) -> list[Call]:
        futures = [self.pool.submit(self.api.perform, call, random.Random(call.key)) for call in calls]
        return [future.result() for future in futures]

    def _send_with_twin(self, call: Call, twin: bool) -> Call:
        """Send ``call``; with ``twin``, the same key and body twice at once (a retry racing its original)."""
        if not twin:
            return self._send(call)
        other = replace(call, twin=True, attempts=[])
        self.log.add(other)
        first, second = self._send_together([call, other])
        if first.payment_id is None:
            first.payment_id = second.payment_id
        second.payment_id = second.payment_id or first.payment_id
        if first.payout_id is None:
            first.payout_id = second.payout_id
        second.payout_id = second.payout_id or first.payout_id
        return first

    def _settled(self, payment: dict | None) -> dict | None:
        """Wait (a little) for a payment left processing to settle, as an integration polling it would."""
        if payment is None or payment.get("status") != "processing":
            return payment
        deadline = min(time.monotonic() + 15, self.end_at + 5)
        while time.monotonic() < deadline:
            time.sleep(1.0)
            self.log.polls += 1
            current = self.api.get_payment(payment["id"])
            if current is not None and current.get("status") != "processing":
                return current
        return None

    def run_flow(self, flow: int, plan: FlowPlan) -> None:
        token = plan.token
        if token == "tok_visa_tokenized":
            token = self.api.sandbox_token(plan.currency) or "tok_visa"
        body = {
            "amount": plan.amount,
            "currency": plan.currency,
            "payment_method": {"type": "card", "token": token},
            "capture_method": "manual" if plan.manual else "automatic",
            "confirm": plan.inline_confirm,
            "metadata": {"chaos_flow": f"c{self.number}-f{flow}"},
        }
        create = self._call(flow, "create", "/api/v1/payments", body, confirm=plan.inline_confirm)
        create = self._send_with_twin(create, plan.same_key_race and plan.inline_confirm)
        payment_id = create.payment_id
        if payment_id is None:
            return
        payment = create.payment_from_answer()
        if not plan.inline_confirm:
            if payment is None or payment.get("status") != "requires_confirmation":
                return
            confirm = self._call(flow, "confirm", f"/api/v1/payments/{payment_id}/confirm", {}, payment_id=payment_id)
            confirm = self._send_with_twin(confirm, plan.same_key_race)
            payment = confirm.payment_from_answer()
        payment = self._settled(payment)
        if payment is None or time.monotonic() > self.end_at + 5:
            return
        if payment.get("status") == "requires_capture":
            payment = self._capture(flow, plan, payment)
        if payment is not None and payment.get("status") == "succeeded" and payment.get("amount_captured", 0) > 0:
            self._refund(flow, plan, payment)
            if time.monotonic() < self.end_at:
                self._payout(flow, plan, payment)

    def _capture(self, flow: int, plan: FlowPlan, payment: dict) -> dict | None:
        payment_id, amount = payment["id"], payment["amount"]
        path = f"/api/v1/payments/{payment_id}"

        def capture(suffix: str, fraction: float | None, race: str = "") -> Call:
            value = None if fraction is None else max(1, int(amount * fraction))
            return self._call(
                flow,
                "capture",
                f"{path}/capture",
                {} if value is None else {"amount": value},
                payment_id=payment_id,
                amount=value,
                race=race,
                suffix=suffix,
            )

        if plan.capture == "cancel":
            call = self._send(self._call(flow, "cancel", f"{path}/cancel", {}, payment_id=payment_id))
            return call.payment_from_answer()
        if plan.capture == "race_cancel":
            calls = [
                capture("capture", None, race="capture_cancel"),
                self._call(flow, "cancel", f"{path}/cancel", {}, payment_id=payment_id, race="capture_cancel"),
            ]
            self._send_together(calls)
            return None
        if plan.capture == "race_capture":
            fractions = sorted(set(round(f, 2) for f in plan.capture_fractions))
            calls = [capture(f"capture{index}", fraction, race="captures") for index, fraction in enumerate(fractions)]
            self._send_together(calls)
            return None
        fraction = None if plan.capture == "full" else plan.capture_fractions[0]
        return self._send(capture("capture", fraction)).payment_from_answer()

    def _refund(self, flow: int, plan: FlowPlan, payment: dict) -> None:
        payment_id, captured = payment["id"], payment["amount_captured"]

        def refund(suffix: str, value: int | None, race: str = "") -> Call:
            body = {"payment": payment_id} if value is None else {"payment": payment_id, "amount": value}
            return self._call(
                flow, "refund", "/api/v1/refunds", body, payment_id=payment_id, amount=value, race=race, suffix=suffix
            )

        first = max(1, int(captured * plan.refund_fractions[0]))
        if plan.refund == "partial":
            self._send(refund("refund", first))
        elif plan.refund == "full":
            self._send(refund("refund", None))
        elif plan.refund == "two":
            self._send(refund("refund0", first))
            self._send(refund("refund1", max(1, int(captured * plan.refund_fractions[1]))))
        elif plan.refund == "race":
            # Together more than was captured: at most one may succeed.
            share = max(1, int(captured * 0.6))
            self._send_together([refund("refund0", share, race="refunds"), refund("refund1", share, race="refunds")])

    def _payout(self, flow: int, plan: FlowPlan, payment: dict) -> None:
        """Pay part of what the payment captured out of the merchant's balance (in USD, its settlement currency:
        a euro payment's amount stands for roughly as many cents), or all of the available balance, to the
        default account or the closed one, and cancel it at once when the plan says so."""
        if plan.payout == "none":
            return
        accounts = self.accounts.ensure(self.number, flow, self.retry_rng)
        if accounts is None:
            return
        amount = max(1, int(payment["amount_captured"] * plan.payout_fraction))
        if plan.payout == "all":
            available = self.api.available(PAYOUT_CURRENCY)
            if available is None or available <= 0:
                return
            amount = available
        body = {"amount": amount, "currency": PAYOUT_CURRENCY, "description": f"chaos c{self.number}-f{flow}"}
        if plan.payout == "closed":
            body["destination"] = accounts["closed"]
        create = self._call(flow, "payout", "/api/v1/payouts", body, amount=amount)
        create = self._send_with_twin(create, plan.same_key_race)
        if plan.payout == "cancel" and create.payout_id is not None:
            path = f"/api/v1/payouts/{create.payout_id}/cancel"
            self._send(self._call(flow, "payout_cancel", path, {}, payout_id=create.payout_id))
