"""The background thread that runs due ScheduledActions and delivers queued webhooks.

One runs in every sandbox process. Several may share a database: each action
and each delivery is claimed with a conditional UPDATE first, so nothing runs
or is sent twice by two dispatchers. No transaction is open while sending.
"""

import hashlib
import hmac
import json
import logging
import random
import threading
import time

import requests
from django.db import close_old_connections, connection
from django.utils import timezone

from sandbox import services
from sandbox.config import sandbox_config
from sandbox.models import ScheduledAction, WebhookEvent
from sandbox.selectors import faults_current

logger = logging.getLogger(__name__)

BATCH = 50
PRUNE_EVERY_SECONDS = 600
SIGNATURE_HEADER = "Sandbox-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Sandbox-Signature`` header value: ``t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def run_due_actions(*, limit: int = BATCH) -> int:
    """Run the actions whose time has come; returns how many this dispatcher ran."""
    due = list(
        ScheduledAction.objects.filter(status=ScheduledAction.Status.PENDING, run_at__lte=timezone.now())
        .order_by("run_at", "id")
        .values_list("id", flat=True)[:limit]
    )
    return sum(1 for action_id in due if services.action_run(action_id=action_id))


class Dispatcher(threading.Thread):
    def __init__(self, *, stop: threading.Event):
        super().__init__(name="sandbox-dispatcher", daemon=True)
        self.stop = stop
        self.config = sandbox_config()
        self.session = requests.Session()
        self._order_rng: tuple[int, random.Random] | None = None
        self._next_prune = time.monotonic() + PRUNE_EVERY_SECONDS

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                worked = 0
                try:
                    close_old_connections()
                    worked = run_due_actions() + self.deliver_due_webhooks()
                    if time.monotonic() >= self._next_prune:
                        self._next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
                        services.idempotency_keys_prune()
                except Exception:
                    # The dispatcher must outlive any one failure (a locked database, a bad row).
                    logger.exception("sandbox dispatcher pass failed")
                if not worked:
                    self.stop.wait(self.config.dispatcher_poll_seconds)
        finally:
            self.session.close()
            connection.close()

    def deliver_due_webhooks(self, *, limit: int = BATCH) -> int:
        """Send the due webhooks, each claimed first; returns how many were attempted."""
        faults = faults_current()
        due = list(
            WebhookEvent.objects.filter(status=WebhookEvent.Status.PENDING, next_attempt_at__lte=timezone.now())
            .order_by("next_attempt_at", "id")
            .values_list("id", "next_attempt_at")[:limit]
        )
        if faults.shuffle_webhooks:
            self._order(faults.seed).shuffle(due)
        attempted = 0
        for event_id, due_at in due:
            if self.stop.is_set():
                break
            claim = services.webhook_claim(event_id=event_id, due_at=due_at)
            if claim is None:
                continue
            attempted += 1
            copies = 2 if faults.duplicate_webhooks else 1
            status_code, error = self.send(claim.event.payload, copies=copies)
            delivered = status_code is not None and 200 <= status_code < 300
            services.webhook_record_attempt(claim=claim, status_code=status_code, error=error, delivered=delivered)
        return attempted

    def send(self, payload: dict, *, copies: int = 1) -> tuple[int | None, str]:
        """POST the signed event ``copies`` times; the first answer decides whether it was delivered."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        first: tuple[int | None, str] | None = None
        for _ in range(copies):
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "sandbox-processor/1",
                SIGNATURE_HEADER: sign(self.config.webhook_secret, int(time.time()), body),
            }
            try:
                response = self.session.post(
                    self.config.webhook_url,
                    data=body,
                    headers=headers,
                    timeout=(2.0, self.config.webhook_timeout_seconds),
                    allow_redirects=False,
                )
                code = response.status_code
                outcome: tuple[int | None, str] = (code, "" if 200 <= code < 300 else f"HTTP {code}")
            except requests.RequestException as error:
                outcome = (None, f"{type(error).__name__}: {error}")
            if first is None:
                first = outcome
        return first

    def _order(self, seed: int) -> random.Random:
        if self._order_rng is None or self._order_rng[0] != seed:
            self._order_rng = (seed, random.Random(seed))
        return self._order_rng[1]
