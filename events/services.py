"""The outbox, webhook endpoints and webhook delivery. Every write of the events app.

Guarantees:

- ``event_record`` writes the event in the CALLER's transaction (it refuses to run
  outside one), so an event exists if and only if its state change committed.
  Nothing is sent to the broker or a merchant from inside a transaction: after
  commit, ``outbox_kick`` asks a worker to drain the outbox (once per API request,
  at its end, however many transactions it committed: ``outbox_kicks_once``).
- ``outbox_drain`` claims unpublished events with ``SELECT … FOR UPDATE SKIP
  LOCKED`` (on SQLite the IMMEDIATE transaction serialises drains), creates one
  delivery per subscribed, enabled endpoint (unique per event and endpoint, so a
  re-drain cannot duplicate one) and marks the events published, all in one
  transaction; the delivery tasks are enqueued after it commits. A drain killed
  half-way rolls back and the next drain (beat, every 5 s) does the work again.
- ``deliveries_send`` claims deliveries with a conditional UPDATE that takes a
  lease (``locked_until`` + a token): two workers never send one delivery at the
  same moment, a delivery that succeeded is never claimed again (a duplicate task
  message is a no-op), and a lease that expires means its worker died. The lease
  is short (``WEBHOOK_LEASE_SECONDS``, 10 s) and renewed while the batch is being
  sent. No transaction is open while a merchant's URL is called. Every attempt is
  committed as soon as its answer arrives, and a request starts only once the
  answers before it are on record, so at most ``WEBHOOK_SEND_CONCURRENCY``
  deliveries are ever sent and not recorded.
- ``deliveries_sweep`` (beat, every 10 s) re-queues deliveries that are due:
  retries, and deliveries whose worker died (lease expired) or whose task
  message was lost. The outbox and the delivery rows are the source of truth; a
  task message is only a hint to do the work now. A killed worker's deliveries
  are sent again within the lease plus the sweep interval (about 20 s).

Delivery is at least once: a worker killed after the merchant answered and before
the answer was recorded (at most the requests it had in flight) sends that event
again (with the same ``webhook-id``).
"""

import functools
import json
import logging
import os
import random
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
from django.conf import settings
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Q
from django.db.transaction import TransactionManagementError
from django.utils import timezone
from requests.adapters import HTTPAdapter
from rest_framework.fields import DateTimeField

from core.audit import audit_record
from core.db import assert_no_transaction, in_transaction, insert_statement, write
from core.metrics import webhook_delivery_attempts
from events.errors import EventNotFound, WebhookEndpointDisabled, WebhookEndpointNotFound, WebhookUrlInvalid
from events.models import (
    ALL_EVENTS,
    Event,
    EventType,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    new_event_id,
)
from events.netguard import UrlRefused, check_url
from events.signing import secret_generate, secret_key, sign
from merchants.models import Merchant

logger = logging.getLogger(__name__)

Status = WebhookDelivery.Status

# Seconds before each retry: 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h, 12 h, 24 h, 24 h
# (about 3.15 days in all), each with ±20 % jitter. After the last one fails the delivery fails.
RETRY_SCHEDULE = (5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800, 43200, 86400, 86400)
RETRY_JITTER = 0.2
RESPONSE_BODY_LIMIT = 1024
DRAIN_BATCH_SIZE = 500
DRAIN_MAX_BATCHES = 20
# Delivery ids per task message.
DELIVERY_TASK_BATCH = 100
# Retries due sooner than this are enqueued with a countdown; later ones are found by the sweep.
COUNTDOWN_MAX_SECONDS = 60
KICK_KEY = "events:outbox:drain-queued"
KICK_TTL_SECONDS = 5
USER_AGENT = "payments-platform-webhooks/1.0"


# --- Settings --------------------------------------------------------------------------


def _timeout_seconds() -> float:
    return float(settings.WEBHOOK_TIMEOUT_SECONDS)


def _lease_seconds() -> float:
    """How long a delivery stays leased to its worker without a renewal (``WEBHOOK_LEASE_SECONDS``).

    A live worker renews the leases of the deliveries it still holds every third of
    this, however long the batch takes; a worker that dies stops renewing, and its
    deliveries can be claimed again this long after its last renewal at the latest.
    """
    return max(1.0, float(settings.WEBHOOK_LEASE_SECONDS))


def _send_concurrency() -> int:
    return max(1, int(settings.WEBHOOK_SEND_CONCURRENCY))


def _sweep_grace() -> timedelta:
    # A delivery just enqueued is about to be sent; the sweep leaves it alone this long.
    return timedelta(seconds=float(settings.WEBHOOK_SWEEP_GRACE_SECONDS))


# --- Recording events (the outbox) ---------------------------------------------------------


_EVENT_TYPES = frozenset(EventType.values)  # EventType.values builds its list anew on every call


def _render_time(moment: datetime) -> str:
    return DateTimeField().to_representation(moment)


def _merchant_id(merchant: Merchant | str) -> str:
    return merchant if isinstance(merchant, str) else merchant.pk


def event_record(*, merchant: Merchant | str, type: str, data_object: dict) -> Event:
    """Write an event in the caller's transaction; it is published after that transaction commits.

    ``merchant`` is the merchant (or its id) whose object changed; ``data_object`` is
    that object as the API shows it. The event body is rendered once, here, exactly
    as api.md describes it, and every webhook for it carries those bytes. Raises
    TransactionManagementError outside a transaction and ValueError for an unknown type.
    """
    if not in_transaction():
        raise TransactionManagementError(
            "event_record writes in the caller's transaction, with the state change: wrap it in transaction.atomic()."
        )
    if type not in _EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}")
    now = timezone.now()
    event_id = new_event_id()
    body = {
        "id": event_id,
        "object": "event",
        "type": type,
        "created": _render_time(now),
        "data": {"object": data_object},
    }
    payload = json.dumps(body, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False)
    event = Event(id=event_id, merchant_id=_merchant_id(merchant), type=type, payload=payload, created=now)
    # With the state change's other writes when its service writes them together (core.db.writes_together).
    write(insert_statement([event]))
    transaction.on_commit(outbox_kick, robust=True)
    return event


def _cache_is_shared() -> bool:
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    return not backend.endswith(("LocMemCache", "DummyCache"))


# The kicks held by ``outbox_kicks_once`` for the block running in this thread (None outside one).
_held_kicks: ContextVar[list[bool] | None] = ContextVar("events_held_outbox_kicks", default=None)


@contextmanager
def outbox_kicks_once():
    """Within this block (an API request: ``events.middleware``), the kicks asked for by the commits are held,
    and one kick is made when the block ends, whatever it raised, if any commit asked for one.

    A create-and-confirm commits two transactions with an event each: one publish instead of two. The events are
    in the outbox from their commit on; only the hint to a worker waits for the end of the block (the response is
    not sent before it), and the scheduled drain publishes them anyway if the process dies first.
    """
    held: list[bool] = []
    token = _held_kicks.set(held)
    try:
        yield
    finally:
        _held_kicks.reset(token)
        if held:
            outbox_kick()


def outbox_kick() -> None:
    """Ask a worker to drain the outbox now (run after a commit that recorded events). Never raises.

    Inside ``outbox_kicks_once``, only remembers that a kick is due; the block makes it when it ends.

    With a shared cache, one drain is queued at a time: the flag is set here and
    cleared when a drain starts, so events committed after that start queue a new one.
    Whatever goes wrong here, the scheduled drain picks the events up within seconds.
    Redis down costs the request nothing (``core.failsoft``): while the cache cannot be
    reached no publish is tried (the broker is the same Redis), and a publish the broker
    refuses is not retried; both are logged at most once a minute.
    """
    from core.failsoft import CACHE

    if not settings.EVENTS_DRAIN_ON_COMMIT:
        return
    held = _held_kicks.get()
    if held is not None:
        if not held:
            held.append(True)
        return
    try:
        if _cache_is_shared() and not CACHE.call(
            lambda: cache.add(KICK_KEY, 1, timeout=KICK_TTL_SECONDS),
            otherwise=False,  # as if a drain were already queued
            degraded="outbox drains are not queued on commit; the scheduled drain publishes the events",
        ):
            return
        _enqueue_drain()
    except Exception:  # noqa: BLE001 - the caller's write has committed; the beat drain is the safety net
        logger.warning("could not queue an outbox drain; the scheduled drain will publish the events", exc_info=True)


def _enqueue_drain() -> None:
    """Queue one drain. A broker that cannot be reached is logged (``core.failsoft``), not raised or waited for."""
    from core.failsoft import BROKER
    from events.tasks import drain_outbox

    BROKER.call(
        lambda: drain_outbox.apply_async(retry=False),
        otherwise=None,
        degraded="no outbox drain queued; the scheduled drain publishes the events",
    )


@dataclass(frozen=True)
class DrainResult:
    events: int
    deliveries: int
    more: bool  # stopped after DRAIN_MAX_BATCHES with events still waiting (another drain was queued)


def outbox_drain(*, batch_size: int = DRAIN_BATCH_SIZE, max_batches: int = DRAIN_MAX_BATCHES) -> DrainResult:
    """Publish unpublished events: create their deliveries, mark them published, enqueue the sends.

    Safe to run in many workers at once (each batch claims its events with SKIP
    LOCKED) and to run again after a crash (the unique (event, endpoint) constraint).
    """
    assert_no_transaction("draining the outbox")
    if _cache_is_shared():
        try:
            cache.delete(KICK_KEY)
        except Exception:  # noqa: BLE001 - only an optimisation of how often drains are queued
            logger.warning("could not clear the outbox drain flag", exc_info=True)
    events = deliveries = 0
    for _ in range(max_batches):
        drained, created = _drain_batch(batch_size)
        events, deliveries = events + drained, deliveries + created
        if drained < batch_size:
            return DrainResult(events=events, deliveries=deliveries, more=False)
    try:
        _enqueue_drain()
    except Exception:  # noqa: BLE001 - the beat drain continues where this one stopped
        logger.warning("could not queue the next outbox drain", exc_info=True)
    return DrainResult(events=events, deliveries=deliveries, more=True)


def _drain_batch(batch_size: int) -> tuple[int, int]:
    with transaction.atomic():
        events = list(
            Event.objects.select_for_update(skip_locked=True)
            .filter(published_at__isnull=True)
            .order_by("id")
            .only("id", "merchant_id", "type", "created")[:batch_size]
        )
        if not events:
            return 0, 0
        endpoints = defaultdict(list)
        for endpoint in WebhookEndpoint.objects.filter(
            merchant_id__in={event.merchant_id for event in events},
            status=WebhookEndpoint.Status.ENABLED,
            deleted_at__isnull=True,
        ).only("id", "merchant_id", "events", "created"):
            endpoints[endpoint.merchant_id].append(endpoint)
        now = timezone.now()
        deliveries = [
            WebhookDelivery(event_id=event.id, endpoint_id=endpoint.id, next_attempt_at=now)
            for event in events
            for endpoint in endpoints[event.merchant_id]
            # An endpoint receives what happens from its creation on, not the history before it.
            if endpoint.subscribes_to(event.type) and endpoint.created <= event.created
        ]
        WebhookDelivery.objects.bulk_create(deliveries, ignore_conflicts=True, batch_size=1000)
        Event.objects.filter(id__in=[event.id for event in events]).update(published_at=now)
        delivery_ids = [delivery.id for delivery in deliveries]
        if delivery_ids:
            transaction.on_commit(lambda: deliveries_enqueue(delivery_ids), robust=True)
    return len(events), len(deliveries)


def deliveries_enqueue(delivery_ids: list[str], *, countdown: float | None = None) -> None:
    """Queue tasks that send these deliveries (after commit only). A lost message is found by the sweep."""
    from core.failsoft import BROKER
    from events.tasks import deliver

    for start in range(0, len(delivery_ids), DELIVERY_TASK_BATCH):
        chunk = delivery_ids[start : start + DELIVERY_TASK_BATCH]
        try:
            queued = BROKER.call(
                lambda chunk=chunk: deliver.apply_async(args=[chunk], countdown=countdown, retry=False),
                otherwise=None,
                degraded="webhook deliveries are not queued; the sweep queues them once the broker answers",
            )
        except Exception:  # noqa: BLE001 - the sweep re-queues whatever is due and not sent
            logger.warning("could not queue %d webhook deliveries; the sweep will", len(chunk), exc_info=True)
            continue
        if queued is None:  # the broker cannot be reached: the rest would not be queued either
            return


# --- Webhook endpoints ---------------------------------------------------------------------


def webhook_endpoint_url_check(*, url: str) -> str:
    """The URL, if it may receive webhooks now; WebhookUrlInvalid (400 ``url_invalid``) otherwise.

    http(s) only; unless ``WEBHOOK_ALLOW_PRIVATE_URLS``, every address the host
    resolves to must be public.
    """
    try:
        check_url(url)
    except UrlRefused as exc:
        raise WebhookUrlInvalid(str(exc)) from exc
    return url


def normalize_event_types(events: Iterable[str] | None) -> list[str]:
    """``None`` or a list containing ``*`` means every type; otherwise the known types, de-duplicated."""
    if events is None:
        return [ALL_EVENTS]
    chosen: list[str] = []
    for event_type in events:
        if event_type != ALL_EVENTS and event_type not in EventType.values:
            raise ValueError(f"unknown event type {event_type!r}")
        if event_type not in chosen:
            chosen.append(event_type)
    if not chosen:
        raise ValueError("events must name at least one event type")
    return [ALL_EVENTS] if ALL_EVENTS in chosen else chosen


@dataclass(frozen=True)
class CreatedEndpoint:
    """A new endpoint and its signing secret. Show ``secret`` once, at creation."""

    endpoint: WebhookEndpoint
    secret: str


def webhook_endpoint_create(
    *, merchant: Merchant, url: str, events: list[str] | None = None, description: str = "", checkpoint=None
) -> CreatedEndpoint:
    """Create an enabled endpoint with a new signing secret (``whsec_`` + base64 of 32 random bytes).

    Raises WebhookUrlInvalid for a URL that may not receive webhooks and ValueError
    for an unknown event type. ``checkpoint`` is called with the endpoint in the creating
    transaction (an idempotency key's recovery point).
    """
    webhook_endpoint_url_check(url=url)
    secret = secret_generate()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            merchant=merchant, url=url, events=normalize_event_types(events), secret=secret, description=description
        )
        if checkpoint is not None:
            checkpoint(endpoint)
    return CreatedEndpoint(endpoint=endpoint, secret=secret)


# How long the secret a rotation replaces keeps signing, by default and at most (Stripe allows up to 7 days).
ROTATION_OVERLAP_DEFAULT = timedelta(hours=24)
ROTATION_OVERLAP_MAX = timedelta(days=7)


def _endpoint_locked(*, merchant: Merchant, endpoint_id: str) -> WebhookEndpoint:
    """The merchant's endpoint, not deleted, locked FOR UPDATE until the caller's transaction ends."""
    endpoint = (
        WebhookEndpoint.objects.select_for_update()
        .filter(merchant=merchant, pk=endpoint_id, deleted_at__isnull=True)
        .first()
    )
    if endpoint is None:
        raise WebhookEndpointNotFound(f"No such webhook endpoint: '{endpoint_id}'.", param="id")
    return endpoint


def _endpoint_as_audited(endpoint: WebhookEndpoint) -> dict:
    """What the audit trail keeps of an endpoint: never a secret."""
    return {
        "url": endpoint.url,
        "events": endpoint.events,
        "description": endpoint.description,
        "status": endpoint.status,
    }


def webhook_endpoint_update(
    *,
    merchant: Merchant,
    endpoint_id: str,
    actor: str,
    url: str | None = None,
    events: list[str] | None = None,
    description: str | None = None,
    disabled: bool | None = None,
) -> WebhookEndpoint:
    """Change what the merchant may change of its endpoint: ``url``, ``events``, ``description``, and disable
    (``disabled=True``) or enable it again (``False``); None leaves a field as it is.

    Guarantees: a new URL is checked first, as at creation (WebhookUrlInvalid, nothing written); the change is
    one UPDATE under the endpoint's row lock, with an audit entry of before and after (never the secret), in one
    transaction. Disabled, the endpoint receives nothing more: events recorded meanwhile get no delivery, and a
    delivery already due is canceled when a worker picks it up (as after a 410 Gone). Enabled again, it receives
    the events recorded from then on; what was canceled meanwhile is sent only by ``webhook_endpoint_resend``.
    A deleted endpoint is not found (WebhookEndpointNotFound).
    """
    if url is not None:
        webhook_endpoint_url_check(url=url)
    with transaction.atomic():
        endpoint = _endpoint_locked(merchant=merchant, endpoint_id=endpoint_id)
        before = _endpoint_as_audited(endpoint)
        if url is not None:
            endpoint.url = url
        if events is not None:
            endpoint.events = normalize_event_types(events)
        if description is not None:
            endpoint.description = description
        if disabled is True and endpoint.status == WebhookEndpoint.Status.ENABLED:
            endpoint.status = WebhookEndpoint.Status.DISABLED
            endpoint.disabled_reason = "disabled by the merchant"
            endpoint.disabled_at = timezone.now()
        elif disabled is False and endpoint.status == WebhookEndpoint.Status.DISABLED:
            endpoint.status = WebhookEndpoint.Status.ENABLED
            endpoint.disabled_reason = ""
            endpoint.disabled_at = None
        after = _endpoint_as_audited(endpoint)
        if after != before:
            endpoint.save(update_fields=["url", "events", "description", "status", "disabled_reason", "disabled_at"])
            audit_record(actor=actor, action="webhook_endpoint.update", obj=endpoint, before=before, after=after)
    return endpoint


@dataclass(frozen=True)
class RotatedSecret:
    """An endpoint after a rotation, its new secret (show it once) and until when the old one still signs."""

    endpoint: WebhookEndpoint
    secret: str
    previous_secret_expires_at: datetime


def webhook_endpoint_rotate_secret(
    *, merchant: Merchant, endpoint_id: str, actor: str, overlap: timedelta = ROTATION_OVERLAP_DEFAULT, checkpoint=None
) -> RotatedSecret:
    """Give the endpoint a new signing secret; the one it replaces keeps signing for ``overlap`` (0: stops at
    once, for a secret that leaked), so every message sent meanwhile carries both signatures and a verifier with
    either secret accepts it (Standard Webhooks allows several signatures in one header).

    Guarantees: one transaction under the endpoint's row lock writes the new secret, the previous one and its
    expiry, an audit entry (without secrets) and ``checkpoint(endpoint)`` (the Idempotency-Key's recovery point).
    A rotation during an overlap ends that overlap: only the current secret becomes the previous one, so at most
    two secrets ever sign. ValueError for an overlap below 0 or above ROTATION_OVERLAP_MAX.
    """
    if not timedelta(0) <= overlap <= ROTATION_OVERLAP_MAX:
        raise ValueError(f"the overlap is from 0 to {ROTATION_OVERLAP_MAX}")
    secret = secret_generate()
    with transaction.atomic():
        endpoint = _endpoint_locked(merchant=merchant, endpoint_id=endpoint_id)
        now = timezone.now()
        endpoint.previous_secret = endpoint.secret if overlap else ""
        endpoint.previous_secret_expires_at = now + overlap if overlap else None
        endpoint.secret = secret
        endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
        audit_record(
            actor=actor,
            action="webhook_endpoint.rotate_secret",
            obj=endpoint,
            after={
                "previous_secret_signs_until": (
                    endpoint.previous_secret_expires_at.isoformat() if endpoint.previous_secret_expires_at else None
                )
            },
        )
        if checkpoint is not None:
            checkpoint(endpoint)
    return RotatedSecret(endpoint=endpoint, secret=secret, previous_secret_expires_at=now + overlap)


def webhook_endpoint_resend(*, merchant: Merchant, endpoint_id: str, event_id: str, actor: str) -> WebhookDelivery:
    """Send one of the merchant's events to its endpoint again, now, with a fresh retry schedule, whatever became
    of it before (delivered, failed, canceled while the endpoint was disabled) or whether it was ever sent there
    (an event recorded before the endpoint existed or subscribed to it): the merchant's receiver must already
    treat a repeated ``webhook-id`` as one message.

    Guarantees: at most one delivery per (event, endpoint), by the unique constraint, however many resends race;
    a resend while a worker is sending that delivery queues nothing new (the send under way is the resend). The
    endpoint must be enabled (WebhookEndpointDisabled otherwise: nothing could be sent). Audited.
    """
    with transaction.atomic():
        endpoint = _endpoint_locked(merchant=merchant, endpoint_id=endpoint_id)
        if endpoint.status != WebhookEndpoint.Status.ENABLED:
            raise WebhookEndpointDisabled(
                f"Webhook endpoint '{endpoint_id}' is disabled: enable it first (POST with disabled=false).",
                param="id",
            )
        event = Event.objects.filter(merchant=merchant, pk=event_id).first()
        if event is None:
            raise EventNotFound(f"No such event: '{event_id}'.", param="event")
        delivery, _ = WebhookDelivery.objects.get_or_create(
            event=event, endpoint=endpoint, defaults={"next_attempt_at": timezone.now()}
        )
        audit_record(actor=actor, action="webhook_endpoint.resend", obj=endpoint, after={"event": event.pk})
    webhook_delivery_resend(delivery=delivery)
    delivery.refresh_from_db()
    return delivery


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Delete an endpoint: it receives nothing more and its secret is wiped.

    The row stays (deleted) so that its deliveries and attempts remain visible to staff.
    """
    WebhookEndpoint.objects.filter(pk=endpoint.pk, deleted_at__isnull=True).update(
        deleted_at=timezone.now(),
        status=WebhookEndpoint.Status.DISABLED,
        disabled_reason="deleted by the merchant",
        disabled_at=timezone.now(),
        secret="",
        previous_secret="",
        previous_secret_expires_at=None,
    )
    endpoint.refresh_from_db()
    return endpoint


def webhook_endpoint_disable(*, endpoint_id: str, reason: str) -> bool:
    """Stop sending to an endpoint (after a 410 Gone). False if it was not enabled."""
    return bool(
        WebhookEndpoint.objects.filter(pk=endpoint_id, status=WebhookEndpoint.Status.ENABLED).update(
            status=WebhookEndpoint.Status.DISABLED, disabled_reason=reason[:200], disabled_at=timezone.now()
        )
    )


def webhook_endpoint_enable(*, endpoint: WebhookEndpoint) -> bool:
    """Re-enable a disabled endpoint (staff, once the merchant fixed it). False for a deleted one.

    Deliveries canceled while it was disabled are not re-sent by this; staff re-send them.
    """
    return bool(
        WebhookEndpoint.objects.filter(pk=endpoint.pk, deleted_at__isnull=True).update(
            status=WebhookEndpoint.Status.ENABLED, disabled_reason="", disabled_at=None
        )
    )


# --- Delivery ----------------------------------------------------------------------------


def retry_delay(step: int, *, rng: random.Random | None = None) -> timedelta | None:
    """The wait before retry number ``step + 1`` (with jitter), or None when the schedule is exhausted."""
    if step >= len(RETRY_SCHEDULE):
        return None
    jitter = (rng or random).uniform(1 - RETRY_JITTER, 1 + RETRY_JITTER)
    return timedelta(seconds=RETRY_SCHEDULE[step] * jitter)


_local = threading.local()
_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_pid: int | None = None
_pool_size = 0


def _session() -> requests.Session:
    """A pooled session per thread (connections to an endpoint are kept alive between deliveries)."""
    session = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        # No proxy or CA settings from the environment (looking them up costs a third of each request);
        # an egress proxy is configured explicitly.
        session.trust_env = False
        proxy = settings.WEBHOOK_PROXY_URL
        if proxy:
            session.proxies = {"http": proxy, "https": proxy}
        adapter = HTTPAdapter(pool_connections=32, pool_maxsize=32, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers["User-Agent"] = USER_AGENT
        _local.session = session
    return session


def _executor(size: int) -> ThreadPoolExecutor:
    """The threads that send batches, ``size`` of them, created in the process that uses them (after a fork)."""
    global _pool, _pool_pid, _pool_size
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid() or _pool_size != size:
            _pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="webhook-send")
            _pool_pid, _pool_size = os.getpid(), size
        return _pool


@dataclass
class _Outcome:
    delivery: WebhookDelivery
    started_at: datetime
    status_code: int | None = None
    latency_ms: int = 0
    response_body: str = ""
    error: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        return self.status_code == 410


def _post(delivery: WebhookDelivery) -> _Outcome:
    """One HTTP attempt. Touches no database (it runs in a sending thread)."""
    endpoint, event = delivery.endpoint, delivery.event
    outcome = _Outcome(delivery=delivery, started_at=timezone.now())
    began = time.perf_counter()
    try:
        check_url(endpoint.url)  # again at delivery time: DNS may have changed since creation
    except UrlRefused as exc:
        outcome.error = f"not sent: {exc}"[:500]
        return outcome
    body = event.payload.encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "webhook-id": event.id,
        "webhook-timestamp": str(timestamp),
        # Standard Webhooks: space-delimited signatures; during a rotation's overlap, one per live secret.
        "webhook-signature": " ".join(
            sign(key=secret_key(secret), message_id=event.id, timestamp=timestamp, body=body)
            for secret in endpoint.signing_secrets(outcome.started_at)
        ),
    }
    timeout = _timeout_seconds()
    try:
        with _session().post(
            endpoint.url, data=body, headers=headers, timeout=timeout, allow_redirects=False, stream=True
        ) as response:
            outcome.status_code = response.status_code
            raw = response.raw.read(RESPONSE_BODY_LIMIT + 1, decode_content=True) or b""
            text = raw[:RESPONSE_BODY_LIMIT].decode("utf-8", errors="replace").replace("\x00", "\ufffd")
            outcome.response_body = text
    except requests.Timeout:
        outcome.error = f"timeout after {timeout:g} s"
    except requests.ConnectionError as exc:
        outcome.error = f"connection error: {type(exc.__context__ or exc).__name__}"
    except requests.RequestException as exc:
        outcome.error = f"request error: {type(exc).__name__}"
    except Exception as exc:  # noqa: BLE001 - a bad answer (e.g. broken encoding) is a failed attempt, not a crash
        outcome.error = f"error reading the answer: {type(exc).__name__}"
    outcome.latency_ms = int((time.perf_counter() - began) * 1000)
    if outcome.status_code is not None and not outcome.succeeded and not outcome.error:
        redirect = 300 <= outcome.status_code < 400
        outcome.error = f"HTTP {outcome.status_code}" + (" (redirects are not followed)" if redirect else "")
    return outcome


@dataclass(frozen=True)
class SendSummary:
    claimed: int = 0
    succeeded: int = 0
    failed: int = 0  # attempts that failed (retried later, or failed for good)
    canceled: int = 0


class _Lease:
    """The lease a batch holds on its deliveries: short, renewed while the batch is being sent.

    ``held_since`` is when the last claim or renewal that succeeded was issued (monotonic,
    taken before the UPDATE, so the lease in the database runs at least ``seconds`` from it).
    """

    def __init__(self, *, token: str, seconds: float, taken_at: float):
        self.token = token
        self.seconds = seconds
        self.held_since = taken_at
        self._renew_at = taken_at + seconds / 3

    def renewal_due(self) -> bool:
        return time.monotonic() >= self._renew_at

    def seconds_to_renewal(self) -> float:
        return max(0.0, self._renew_at - time.monotonic())

    def may_start(self) -> bool:
        """Whether a request may start: only while the lease is surely held for a good while yet.

        When renewals fail (the database cannot be reached), requests stop starting half a
        lease after the last renewal, well before another worker may claim the deliveries.
        """
        return time.monotonic() < self.held_since + self.seconds / 2

    def renew(self, ids: list[str]) -> set[str] | None:
        """Extend the lease of ``ids``; the ids still held, or None if the renewal failed."""
        started = time.monotonic()
        held = _lease_renew(ids, token=self.token, lease=self.seconds) if ids else set()
        if held is None:
            self._renew_at = started + self.seconds / 10  # try again soon
            return None
        self.held_since, self._renew_at = started, started + self.seconds / 3
        return held


def _lease_renew(ids: list[str], *, token: str, lease: float) -> set[str] | None:
    """Push the lease of these deliveries ``lease`` seconds ahead, where this token still holds it.

    Returns the ids still held (all of them, unless the lease had expired and someone
    else claimed one), or None when the database could not be reached.
    """
    try:
        renewed = WebhookDelivery.objects.filter(pk__in=ids, lease_token=token, status=Status.PENDING).update(
            locked_until=timezone.now() + timedelta(seconds=lease)
        )
        if renewed == len(ids):
            return set(ids)
        return set(WebhookDelivery.objects.filter(pk__in=ids, lease_token=token).values_list("pk", flat=True))
    except DatabaseError:
        logger.warning("could not renew the lease of %d webhook deliveries", len(ids), exc_info=True)
        return None


def deliveries_send(*, delivery_ids: list[str]) -> SendSummary:
    """Send those of these deliveries that are pending, due and not being sent by someone else.

    Claims them with one conditional UPDATE (a lease of ``WEBHOOK_LEASE_SECONDS``,
    renewed while the batch is being sent), sends them ``WEBHOOK_SEND_CONCURRENCY`` at
    a time from sending threads with no transaction open, and commits each attempt
    and its outcome as soon as its answer arrives (answers that arrived together, in
    one short transaction), conditionally on still holding the lease. A new request
    starts only once an earlier answer is on record, so a worker killed mid-batch sends
    again only the requests it had in flight. Safe to call twice with the same ids,
    concurrently or not.
    """
    assert_no_transaction("sending webhooks")
    if not delivery_ids:
        return SendSummary()
    token = uuid.uuid4().hex
    lease_seconds = _lease_seconds()
    taken_at = time.monotonic()
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(
        Q(locked_until__isnull=True) | Q(locked_until__lt=now),
        pk__in=delivery_ids,
        status=Status.PENDING,
        next_attempt_at__lte=now,
    ).update(locked_until=now + timedelta(seconds=lease_seconds), lease_token=token)
    if not claimed:
        return SendSummary()
    lease = _Lease(token=token, seconds=lease_seconds, taken_at=taken_at)
    order = {delivery_id: position for position, delivery_id in enumerate(delivery_ids)}
    deliveries = sorted(
        WebhookDelivery.objects.filter(pk__in=delivery_ids, lease_token=token).select_related("event", "endpoint"),
        key=lambda delivery: order.get(delivery.pk, 0),
    )
    sendable, unsendable = [], []
    for delivery in deliveries:
        enabled = delivery.endpoint.status == WebhookEndpoint.Status.ENABLED and delivery.endpoint.secret
        (sendable if enabled else unsendable).append(delivery)
    if unsendable:
        _cancel(unsendable, token=token)
    outcomes, retry_soon = _send_leased(sendable, lease)
    if retry_soon:
        ids, latest = zip(*retry_soon, strict=True)
        deliveries_enqueue(list(ids), countdown=max(0.0, (max(latest) - timezone.now()).total_seconds()) + 0.1)
    succeeded = sum(1 for outcome in outcomes if outcome.succeeded)
    return SendSummary(claimed=claimed, succeeded=succeeded, failed=len(outcomes) - succeeded, canceled=len(unsendable))


def _send_leased(deliveries: list[WebhookDelivery], lease: _Lease) -> tuple[list[_Outcome], list[tuple[str, datetime]]]:
    """Send leased deliveries, at most WEBHOOK_SEND_CONCURRENCY in flight, recording each answer as it arrives.

    This thread keeps the lease: it waits for answers, commits them, renews the lease of
    what it still holds every third of a lease, and starts the next requests. A request
    starts only once the answers before it are on record (the window), so at any moment
    at most WEBHOOK_SEND_CONCURRENCY deliveries have been sent and not recorded.
    """
    waiting = deque(deliveries)
    in_flight: dict[Future, WebhookDelivery] = {}
    outcomes: list[_Outcome] = []
    retry_soon: list[tuple[str, datetime]] = []
    window = _send_concurrency()
    executor = _executor(window)
    while waiting or in_flight:
        if lease.renewal_due():
            held = lease.renew([d.pk for d in waiting] + [d.pk for d in in_flight.values()])
            if held is not None and len(held) < len(waiting) + len(in_flight):
                logger.warning("webhook deliveries were claimed by another worker; not sending them")
                waiting = deque(d for d in waiting if d.pk in held)
        while waiting and len(in_flight) < window and lease.may_start():
            delivery = waiting.popleft()
            in_flight[executor.submit(_post, delivery)] = delivery
        if not in_flight:
            if waiting:
                # The lease could not be renewed (the database?) and may soon expire: the rest is
                # left to whoever claims it next (the sweep queues it once the lease has expired).
                logger.warning("not sending %d webhook deliveries: their lease could not be renewed", len(waiting))
            break
        done, _ = wait(in_flight, timeout=lease.seconds_to_renewal(), return_when=FIRST_COMPLETED)
        if not done:
            continue
        answered = []
        for future in done:
            del in_flight[future]
            answered.append(future.result())
        retry_soon += _record(answered, token=lease.token)
        outcomes += answered
    return outcomes, retry_soon


@dataclass(frozen=True)
class _Change:
    """What one answer does to its delivery: decided once, then applied by either way of recording."""

    outcome: _Outcome
    status: str
    last_error: str
    retry_in: timedelta | None = None  # a retry, after this long
    due: datetime | None = None  # the retry's next_attempt_at
    completed_at: datetime | None = None  # finished: succeeded, or failed for good


def _changes(outcomes: list[_Outcome], now: datetime) -> list[_Change]:
    changes = []
    for outcome in outcomes:
        error = outcome.error[:500]
        if outcome.succeeded:
            changes.append(_Change(outcome, Status.SUCCEEDED, last_error="", completed_at=now))
            continue
        delay = None if outcome.gone else retry_delay(outcome.delivery.retry_step)
        if delay is None:
            changes.append(_Change(outcome, Status.FAILED, last_error=error, completed_at=now))
        else:
            changes.append(_Change(outcome, Status.PENDING, last_error=error, retry_in=delay, due=now + delay))
    return changes


def _attempt_outcome(change: _Change) -> str:
    """The label an attempt is counted under in /metrics (``core.metrics.webhook_delivery_attempts``)."""
    if change.status == Status.SUCCEEDED:
        return "succeeded"
    return "retry" if change.retry_in is not None else "failed"


def _record(outcomes: list[_Outcome], *, token: str) -> list[tuple[str, datetime]]:
    """Store these attempts and move their deliveries on, in one short transaction.

    Returns the retries due within COUNTDOWN_MAX_SECONDS. A delivery's outcome is
    recorded only while this token holds its lease; the attempt itself always is.
    On PostgreSQL this is a single statement (one round trip for all the answers that
    arrived together), unless an endpoint answered 410 Gone (it is disabled too).
    """
    changes = _changes(outcomes, timezone.now())
    for change in changes:
        webhook_delivery_attempts.labels(_attempt_outcome(change)).inc()
    gone = any(change.outcome.gone for change in changes)
    if connection.vendor == "postgresql" and not connection.in_atomic_block and not gone:
        recorded = _record_in_one_statement(changes, token=token)
    else:
        recorded = _record_in_a_transaction(changes, token=token)
    soon = timedelta(seconds=COUNTDOWN_MAX_SECONDS)
    return [
        (change.outcome.delivery.pk, change.due)
        for change in changes
        if change.retry_in is not None and change.retry_in <= soon and change.outcome.delivery.pk in recorded
    ]


def _record_in_a_transaction(changes: list[_Change], *, token: str) -> set[str]:
    """``_record`` with the ORM, in one transaction; returns the failed deliveries whose outcome was recorded."""
    recorded = set()
    released = {"locked_until": None, "lease_token": ""}
    with transaction.atomic():
        _commit_without_waiting_for_the_disk()
        WebhookAttempt.objects.bulk_create(_attempt(change.outcome) for change in changes)
        successes = defaultdict(list)
        for change in changes:
            outcome, delivery = change.outcome, change.outcome.delivery
            if change.status == Status.SUCCEEDED:
                successes[outcome.status_code, change.completed_at].append(delivery.pk)
                continue
            if outcome.gone:
                reason = "the endpoint answered 410 Gone"
                webhook_endpoint_disable(endpoint_id=delivery.endpoint_id, reason=reason)
                logger.warning("webhook endpoint %s disabled: %s", delivery.endpoint_id, reason)
            fields = {
                "status": change.status,
                "attempt_count": F("attempt_count") + 1,
                "last_status_code": outcome.status_code,
                "last_error": change.last_error,
                **released,
            }
            if change.retry_in is not None:
                fields.update(next_attempt_at=change.due, retry_step=F("retry_step") + 1)
            else:
                fields.update(completed_at=change.completed_at)
            if WebhookDelivery.objects.filter(pk=delivery.pk, lease_token=token).update(**fields):
                recorded.add(delivery.pk)
        for (status_code, completed_at), ids in successes.items():
            WebhookDelivery.objects.filter(pk__in=ids, lease_token=token).update(
                status=Status.SUCCEEDED,
                attempt_count=F("attempt_count") + 1,
                last_status_code=status_code,
                last_error="",
                completed_at=completed_at,
                **released,
            )
    return recorded


def _attempt(outcome: _Outcome) -> WebhookAttempt:
    return WebhookAttempt(
        delivery_id=outcome.delivery.pk,
        number=outcome.delivery.attempt_count + 1,
        started_at=outcome.started_at,
        status_code=outcome.status_code,
        latency_ms=outcome.latency_ms,
        response_body=outcome.response_body,
        error=outcome.error[:500],
        succeeded=outcome.succeeded,
    )


# One INSERT of the attempts and one UPDATE of their deliveries, in one statement; {rows} are
# the VALUES rows (_ANSWER_ROW each), the last parameter is the lease token. Reading the answers
# through set_config() makes this statement's commit not wait for the disk (as
# _commit_without_waiting_for_the_disk does), for this statement only: is_local, and in
# autocommit the statement is its own transaction.
_RECORD_SQL = """
WITH answers (delivery_id, number, started_at, status_code, latency_ms, response_body, error, succeeded,
              status, last_error, due, completed_at) AS (VALUES {rows}),
attempts AS (
    INSERT INTO {attempt} (delivery_id, number, started_at, status_code, latency_ms, response_body, error, succeeded)
    SELECT delivery_id, number, started_at, status_code, latency_ms, response_body, error, succeeded FROM answers
    WHERE set_config('synchronous_commit', 'off', true) = 'off'
)
UPDATE {delivery} AS d SET
    status = a.status, attempt_count = d.attempt_count + 1, last_status_code = a.status_code,
    last_error = a.last_error, next_attempt_at = COALESCE(a.due, d.next_attempt_at),
    retry_step = d.retry_step + (CASE WHEN a.due IS NULL THEN 0 ELSE 1 END),
    completed_at = COALESCE(a.completed_at, d.completed_at), locked_until = NULL, lease_token = ''
FROM answers AS a
WHERE d.id = a.delivery_id AND d.lease_token = %s
RETURNING d.id
"""
_ANSWER_ROW = (
    "(%s, %s::integer, %s::timestamptz, %s::integer, %s::integer, %s::text, %s::text, %s::boolean, "
    "%s::text, %s::text, %s::timestamptz, %s::timestamptz)"
)


@functools.cache
def _record_sql(rows: int) -> str:
    return _RECORD_SQL.format(
        rows=", ".join([_ANSWER_ROW] * rows),
        attempt=connection.ops.quote_name(WebhookAttempt._meta.db_table),
        delivery=connection.ops.quote_name(WebhookDelivery._meta.db_table),
    )


def _record_in_one_statement(changes: list[_Change], *, token: str) -> set[str]:
    """``_record`` on PostgreSQL: one INSERT of the attempts and one UPDATE … FROM (VALUES …), in one statement.

    Run in autocommit (the statement is its own transaction), so it costs one round
    trip whatever the number of answers. Returns the ids of the deliveries whose
    outcome was recorded (those this token still holds).
    """
    params: list = []
    for change in changes:
        outcome = change.outcome
        params += [
            outcome.delivery.pk,
            outcome.delivery.attempt_count + 1,
            outcome.started_at,
            outcome.status_code,
            outcome.latency_ms,
            outcome.response_body,
            outcome.error[:500],
            outcome.succeeded,
            change.status,
            change.last_error,
            change.due,
            change.completed_at,
        ]
    params.append(token)
    with connection.cursor() as cursor:
        cursor.execute(_record_sql(len(changes)), params)
        return {row[0] for row in cursor.fetchall()}


def _commit_without_waiting_for_the_disk() -> None:
    """Let this transaction's COMMIT return before its WAL reaches the disk (PostgreSQL only).

    The worker's next requests wait for the previous answers' records, so a commit that
    waits for fsync (milliseconds) idles every sending thread once per answer. Without
    waiting, a crash of the worker still loses nothing (PostgreSQL has the commit); only a
    crash of PostgreSQL itself can lose the last fraction of a second of records
    (``wal_writer_delay``), whose deliveries are then sent again with the same
    ``webhook-id``: what at-least-once delivery already allows. Payments and the ledger
    never do this.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _cancel(deliveries: list[WebhookDelivery], *, token: str) -> None:
    """Cancel claimed deliveries whose endpoint was disabled or deleted (nothing is sent)."""
    now = timezone.now()
    with transaction.atomic():
        for delivery in deliveries:
            deleted = delivery.endpoint.deleted_at is not None
            WebhookDelivery.objects.filter(pk=delivery.pk, lease_token=token).update(
                status=Status.CANCELED,
                completed_at=now,
                last_error="not sent: the endpoint was deleted" if deleted else "not sent: the endpoint is disabled",
                locked_until=None,
                lease_token="",
            )
    webhook_delivery_attempts.labels("canceled").inc(len(deliveries))


def deliveries_sweep(*, limit: int = 1000) -> int:
    """Re-queue deliveries that are due and not leased: retries, and those whose worker or message was lost.

    Returns how many were queued. A delivery whose lease is still live is never queued
    (its worker is alive: it renews the lease); a dead worker's lease lapses within
    ``WEBHOOK_LEASE_SECONDS`` of its last renewal. A delivery also queued elsewhere is
    harmless: only one claim can succeed.
    """
    now = timezone.now()
    ids = list(
        WebhookDelivery.objects.filter(status=Status.PENDING, next_attempt_at__lte=now - _sweep_grace())
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    deliveries_enqueue(ids)
    return len(ids)


def webhook_delivery_resend(*, delivery: WebhookDelivery) -> bool:
    """Send a delivery again now, whatever its status, with a fresh retry schedule (staff).

    False when a worker is sending it at this moment (try again in a minute).
    """
    now = timezone.now()
    with transaction.atomic():
        queued = WebhookDelivery.objects.filter(
            Q(locked_until__isnull=True) | Q(locked_until__lt=now), pk=delivery.pk
        ).update(
            status=Status.PENDING,
            next_attempt_at=now,
            retry_step=0,
            completed_at=None,
            locked_until=None,
            lease_token="",
        )
        if queued:
            transaction.on_commit(lambda: deliveries_enqueue([delivery.pk]), robust=True)
    return bool(queued)
