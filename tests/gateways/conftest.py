"""Fixtures for the processor boundary: one real sandbox process for the session, and a webhook receiver.

Named apart from tests/conftest.py's ``sandbox``/``processor`` (which other apps' tests use): this
session's sandbox also delivers its webhooks to a local receiver.
"""

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gateways.registry import processor as processor_named
from tests.processors import configure_processor
from tests.sandbox_process import SandboxProcess

# The faults every test starts from (the session sandbox's own defaults).
DEFAULT_FAULTS = {
    "latency_ms": 0,
    "error_rate": 0.0,
    "seed": 0,
    "duplicate_webhooks": False,
    "shuffle_webhooks": False,
    "timeout_delay_seconds": 2.0,
    "refund_delay_seconds": 0.0,
    # Shorter than the sandbox's defaults (2 s, 3 s), to keep the dispute tests quick.
    "dispute_delay_seconds": 1.0,
    "dispute_decision_seconds": 1.0,
    # Shorter than the sandbox's defaults (5 s, 3 s), to keep the bank transfer tests quick.
    "bank_settlement_seconds": 0.5,
    "bank_return_seconds": 0.5,
    "wallet_expiry_seconds": 900.0,
    "fx_drift_bps": 0,
    # Shorter than the sandbox's default (5 s), to keep the payout tests quick.
    "payout_seconds": 0.5,
}


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int
    received_at: float = field(default_factory=time.monotonic)

    @property
    def event(self) -> dict:
        return json.loads(self.body)


class WebhookReceiver:
    """A tiny HTTP server on 127.0.0.1 that records every webhook it gets, standing in for the platform."""

    def __init__(self):
        self.deliveries: list[Delivery] = []
        self._condition = threading.Condition()
        self._failures: dict[str, int] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver._answer_for(body)
                receiver._record(Delivery(self.path, dict(self.headers.items()), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/processor/sandbox/"

    def fail_for(self, marker: str, times: int = 1, status: int = 500) -> None:
        """Answer ``status`` to the next ``times`` deliveries whose body contains ``marker``."""
        with self._condition:
            self._failures[marker] = times

    def _answer_for(self, body: bytes) -> int:
        with self._condition:
            for marker, remaining in self._failures.items():
                if remaining > 0 and marker.encode() in body:
                    self._failures[marker] = remaining - 1
                    return 500
        return 200

    def _record(self, delivery: Delivery) -> None:
        with self._condition:
            self.deliveries.append(delivery)
            self._condition.notify_all()

    def matching(self, match: Callable[[dict], bool], *, accepted_only: bool = True) -> list[Delivery]:
        """The deliveries whose event ``match(event)`` accepts, in the order they arrived."""
        with self._condition:
            found = [d for d in self.deliveries if match(d.event)]
        return [d for d in found if d.answered == 200] if accepted_only else found

    def for_charge(self, charge_id: str, *, accepted_only: bool = True) -> list[Delivery]:
        return self.matching(lambda event: event["data"]["object"].get("id") == charge_id, accepted_only=accepted_only)

    def wait_for(
        self,
        match: Callable[[dict], bool],
        count: int = 1,
        timeout: float = 15.0,
        *,
        accepted_only: bool = True,
        what: str = "matching",
    ) -> list[Delivery]:
        """The deliveries ``match`` accepts once there are at least ``count``; fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while True:
                found = self.matching(match, accepted_only=accepted_only)
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{len(found)} of {count} webhooks {what} in {timeout}s")
                self._condition.wait(min(remaining, 0.2))

    def wait_for_charge(self, charge_id: str, count: int = 1, timeout: float = 15.0, **kwargs) -> list[Delivery]:
        """The deliveries about ``charge_id`` once there are at least ``count``; fails after ``timeout``."""

        def about_charge(event: dict) -> bool:
            return event["data"]["object"].get("id") == charge_id

        return self.wait_for(about_charge, count, timeout, what=f"about {charge_id}", **kwargs)

    def wait_for_event(self, event_type: str, *, about: str, count: int = 1, timeout: float = 15.0) -> list[Delivery]:
        """Accepted ``event_type`` deliveries whose object is ``about`` or belongs to the charge ``about``."""

        def match(event: dict) -> bool:
            obj = event["data"]["object"]
            return event["type"] == event_type and about in (obj.get("id"), obj.get("charge"))

        return self.wait_for(match, count, timeout, what=f"{event_type} about {about}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def webhook_receiver():
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="session")
def webhook_secret() -> str:
    from django.conf import settings

    return settings.PROCESSORS["sandbox"]["webhook_secret"]


@pytest.fixture(scope="session")
def live_sandbox(webhook_receiver, webhook_secret):
    """The sandbox processor, a real process with its own database, for the whole session."""
    process = SandboxProcess(
        env={
            "SANDBOX_TIMEOUT_DELAY_SECONDS": str(DEFAULT_FAULTS["timeout_delay_seconds"]),
            "SANDBOX_DISPUTE_DELAY_SECONDS": str(DEFAULT_FAULTS["dispute_delay_seconds"]),
            "SANDBOX_DISPUTE_DECISION_SECONDS": str(DEFAULT_FAULTS["dispute_decision_seconds"]),
            "SANDBOX_BANK_SETTLEMENT_SECONDS": str(DEFAULT_FAULTS["bank_settlement_seconds"]),
            "SANDBOX_BANK_RETURN_SECONDS": str(DEFAULT_FAULTS["bank_return_seconds"]),
            "SANDBOX_PAYOUT_SECONDS": str(DEFAULT_FAULTS["payout_seconds"]),
        },
        webhook_url=webhook_receiver.url,
        webhook_secret=webhook_secret,
    )
    with process:
        yield process


@pytest.fixture
def adapter(live_sandbox, settings):
    """The platform's processor adapter (from the registry), pointed at the session sandbox.

    The sandbox's faults are put back to the defaults after each test.
    """
    configure_processor(settings, base_url=live_sandbox.base_url)
    configure_processor(settings, connect_timeout=2.0)
    configure_processor(settings, read_timeout=5.0)
    yield processor_named("sandbox")
    live_sandbox.set_faults(**DEFAULT_FAULTS)


@pytest.fixture
def new_key():
    """A fresh idempotency key each call."""
    return lambda: f"idem_{uuid.uuid4().hex}"


@pytest.fixture
def reference():
    """A reference (our payment id) no other test uses."""
    return f"pay_test_{uuid.uuid4().hex}"
