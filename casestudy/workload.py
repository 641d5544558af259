"""The case study's clients and the merchant's webhook receiver.

Every phase runs the same seeded workload: the orders of ``arrivals(seed, seconds)`` (arrival time, amount,
card token), drawn from the seed alone, each sent at its time by a thread of its own, so every design gets
exactly the same orders at the same moments. A client retries an order after a timeout, a dropped connection
or a 5xx (three such attempts at most, within ``ORDER_BUDGET_SECONDS``), and waits on a 409 or 429:

- the naive design's clients simply send the call again (the naive API has nothing else to offer);
- the platform's clients send it again with the same ``Idempotency-Key`` and the same body.

Orders are named after their phase (``naive-12``, ``refined-12``…): the naive design passes the order id to the
processor as the charge's reference, the platform keeps it in the payment's metadata, so every charge at the
processor is attributed to its order, and every merchant webhook too.
"""

import json
import random
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests

from chaos.hooks import _handler, _Server, standard_webhooks_valid

# Orders arrive at this rate (a Poisson process drawn from the seed), each sent by a thread of its own.
ARRIVALS_PER_SECOND = 20.0
MAX_IN_FLIGHT = 64
# Card tokens of the sandbox and how often an order uses each: approved; a definite decline; and the card whose
# charge the sandbox makes at once but answers, and reports by webhook, only 8 s later (after every timeout).
TOKENS = [("tok_visa", 84), ("tok_chargeDeclined", 14), ("tok_timeout", 2)]
CURRENCY = "USD"
# The clients of the design phases give up waiting after 3.5 s (the sandbox's slow answers take 4 or 6.5 s);
# those of the confirmation phases wait 12 s (longer than the web's 2 + 5 s processor timeouts).
DESIGN_TIMEOUT = (2.0, 3.5)
CONFIRMATION_TIMEOUT = (2.0, 12.0)
ORDER_BUDGET_SECONDS = 40.0
# A client gives up after this many attempts that timed out, lost the connection or got a 5xx (as an SDK
# does: Stripe's retry twice by default).
MAX_FAILED_ATTEMPTS = 3
FINAL_STATUSES = ("succeeded", "failed")


@dataclass
class Order:
    """One order of one client and what the client saw of it."""

    phase: str
    number: int
    amount: int
    token: str
    due: float = 0.0  # seconds after the phase's start it arrives
    queued: float = 0.0  # time.monotonic() it arrived (waiting for a free sender, if none is)
    arrived_wall: float = 0.0  # time.time() it arrived
    began: float = 0.0  # time.monotonic() of the first attempt
    began_wall: float = 0.0  # time.time() of the first attempt
    first_answer_at: float | None = None
    ended: float | None = None
    attempts: int = 0
    answers: Counter = field(default_factory=Counter)  # status code (or "timeout", "connection") per attempt
    status: int | None = None  # the last answer's status code; None: none was given
    payment_status: str | None = None  # the payment's status in that answer
    first_payment_status: str | None = None  # in the first answer the client got
    first_status: int | None = None
    payment_id: str | None = None
    gave_up: bool = False

    @property
    def order_id(self) -> str:
        return f"{self.phase}-{self.number}"

    @property
    def known_at_once(self) -> bool:
        """The first answer the client got said how the payment ended (succeeded or declined)."""
        return self.first_status == 402 or self.first_payment_status in FINAL_STATUSES

    @property
    def latency_ms(self) -> float | None:
        return None if self.ended is None else (self.ended - self.queued) * 1000


def arrivals(seed: int, seconds: float, rate: float = ARRIVALS_PER_SECOND) -> list[tuple[float, int, str]]:
    """The orders of a phase, from the seed and the phase's length alone: (seconds after the start, amount,
    token), arriving as a Poisson process of ``rate`` per second."""
    rng = random.Random(f"casestudy:{seed}:orders")
    tokens, weights = zip(*TOKENS, strict=True)
    found, at = [], 0.0
    while True:
        at += rng.expovariate(rate)
        if at >= seconds:
            return found
        found.append((round(at, 4), rng.randrange(500, 20000), rng.choices(tokens, weights)[0]))


class Sender:
    """Sends one order to its end: the first attempt, then retries (same call; the platform: same key)."""

    def __init__(self, *, seed: int, phase: str, base_url: str, api_key: str, mode: str):
        self.seed = seed
        self.phase = phase
        self.base_url = base_url
        self.api_key = api_key
        self.mode = mode  # naive, refined, sync, async
        self.errors: list[str] = []
        self._local = threading.local()

    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.headers["Authorization"] = f"Bearer {self.api_key}"
        return session

    def request(self, order: Order) -> tuple[str, dict, dict]:
        """(path, body, headers) of the order's call, the same at every attempt."""
        if self.mode == "naive":
            body = {"order_id": order.order_id, "amount": order.amount, "currency": CURRENCY, "token": order.token}
            return "/casestudy/naive/payments", body, {}
        body = {
            "amount": order.amount,
            "currency": CURRENCY,
            "confirm": True,
            "payment_method": {"type": "card", "token": order.token},
            "metadata": {"order_id": order.order_id, "phase": self.phase},
        }
        headers = {"Idempotency-Key": f"casestudy-{self.seed}-{order.order_id}"}
        if self.mode == "async":
            headers["Prefer"] = "respond-async"
        return "/api/v1/payments", body, headers

    def send(self, order: Order) -> None:
        try:
            self._send(order)
        except Exception as error:  # noqa: BLE001 - a client's own failure is reported, never fatal
            self.errors.append(f"{order.order_id}: {type(error).__name__}: {error}")

    def _send(self, order: Order) -> None:
        path, body, headers = self.request(order)
        timeout = DESIGN_TIMEOUT if self.mode in ("naive", "refined") else CONFIRMATION_TIMEOUT
        backoff = random.Random(f"casestudy:{self.seed}:backoff:{order.order_id}")
        order.began, order.began_wall = time.monotonic(), time.time()
        deadline = order.began + ORDER_BUDGET_SECONDS
        failures = 0
        while True:
            order.attempts += 1
            try:
                response = self.session().post(self.base_url + path, json=body, headers=headers, timeout=timeout)
            except requests.Timeout:
                order.answers["timeout"] += 1
                self._local.session = None
                failures += 1
            except requests.RequestException:
                order.answers["connection"] += 1
                self._local.session = None
                failures += 1
            else:
                order.answers[response.status_code] += 1
                if self._answered(order, response):
                    order.ended = time.monotonic()
                    return
                # A 409 (the same key still in flight) or 429 says "wait", not "failed": it is not counted.
                failures += response.status_code >= 500
            if failures >= MAX_FAILED_ATTEMPTS or time.monotonic() > deadline:
                order.gave_up = True
                return
            time.sleep(min(2.0, 0.1 * 2 ** min(order.attempts, 5)) * backoff.uniform(0.5, 1.0))

    def _answered(self, order: Order, response: requests.Response) -> bool:
        """Record an answer; True when it ends the order (anything but a 409, 429 or 5xx)."""
        status = response.status_code
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        payment = answer if isinstance(answer, dict) and "status" in answer else None
        if payment is None and isinstance(answer, dict) and isinstance(answer.get("error"), dict):
            payment = answer["error"].get("payment") if isinstance(answer["error"].get("payment"), dict) else None
        if order.first_answer_at is None and status not in (409, 429) and status < 500:
            order.first_answer_at = time.monotonic()
            order.first_status = status
            order.first_payment_status = payment.get("status") if payment else None
        if status in (409, 429) or status >= 500:
            return False
        order.status = status
        order.payment_status = payment.get("status") if payment else ("failed" if status == 402 else None)
        order.payment_id = payment.get("id") if payment else None
        return True


def run_orders(*, seed: int, phase: str, base_url: str, api_key: str, seconds: float) -> tuple[list[Order], list]:
    """Send the phase's orders, each at its arrival time, each in a thread of its own (up to ``MAX_IN_FLIGHT``
    at once: an order arriving when all are busy waits, and its latency counts the wait). Returns every order,
    in arrival order, and the senders' own errors."""
    sender = Sender(seed=seed, phase=phase, base_url=base_url, api_key=api_key, mode=phase)
    orders = [
        Order(phase=phase, number=number, amount=amount, token=token, due=at)
        for number, (at, amount, token) in enumerate(arrivals(seed, seconds))
    ]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=MAX_IN_FLIGHT, thread_name_prefix=f"casestudy-{phase}") as pool:
        for order in orders:
            delay = started + order.due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            order.queued, order.arrived_wall = time.monotonic(), time.time()
            pool.submit(sender.send, order)
    return orders, sender.errors


class MerchantReceiver(_Server):
    """The merchant's webhook endpoint for both designs, counting deliveries per event and per order.

    ``/naive``: the naive design's inline webhooks (unsigned: it signs nothing). ``/refined``: the platform's,
    verified with the endpoint's secret (Standard Webhooks); an invalid one is a 400 and is not counted.
    """

    def __init__(self):
        self.secret = ""
        self.deliveries: Counter = Counter()  # event id -> deliveries
        self.events: dict[str, dict] = {}  # event id -> {"type", "order_id", "phase"}
        self.invalid = 0
        self._lock = threading.Lock()
        super().__init__(lambda owner: _handler(owner, self._on_post))

    def url(self, design: str) -> str:
        return f"http://127.0.0.1:{self.port}/{design}"

    def _on_post(self, path: str, headers: dict, body: bytes):
        if path.startswith("/refined") and not (self.secret and standard_webhooks_valid(self.secret, headers, body)):
            with self._lock:
                self.invalid += 1
            return 400, b'{"ok": false}'
        try:
            event = json.loads(body)
            data = event.get("data") or {}
            payment = data.get("object") if isinstance(data.get("object"), dict) else data
            order_id = payment.get("order_id") or (payment.get("metadata") or {}).get("order_id") or ""
            event_id, event_type = str(event.get("id") or headers.get("webhook-id", "")), str(event.get("type", ""))
        except (ValueError, AttributeError):
            return 400, b'{"ok": false}'
        with self._lock:
            self.deliveries[event_id] += 1
            self.events[event_id] = {"type": event_type, "order_id": order_id, "phase": order_id.split("-", 1)[0]}
        return 200, b'{"ok": true}'

    def snapshot(self) -> tuple[Counter, int]:
        """As ``chaos.hooks.MerchantReceiver.snapshot``, for ``chaos.checks.settle``."""
        with self._lock:
            return Counter(self.deliveries), self.invalid

    def notifications(self, phase: str) -> tuple[dict[str, set], int]:
        """({order id: the distinct ids of the events saying its payment succeeded}, redeliveries of one id)."""
        by_order: dict[str, set] = defaultdict(set)
        redeliveries = 0
        with self._lock:
            for event_id, event in self.events.items():
                if event["phase"] != phase:
                    continue
                redeliveries += self.deliveries[event_id] - 1
                if event["type"] == "payment.succeeded":
                    by_order[event["order_id"]].add(event_id)
        return by_order, redeliveries
