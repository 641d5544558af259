"""The merchant API's idempotency layer (api.md, "Idempotency"; the IETF Idempotency-Key draft).

Every POST under /api/v1/ runs through ``run_idempotent``. The unique constraint on
(merchant, key) decides which request executes: the first INSERT wins, every other
request with the same key finds the row and is answered 422 (different request),
409 (still executing) or with the stored response, byte for byte.
"""

import hashlib
import json
import logging
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.http import HttpResponse
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from core.errors import (
    ApiServerError,
    IdempotencyKeyInUseError,
    IdempotencyKeyReusedError,
    InvalidRequestError,
)
from core.exception_handler import to_api_error
from core.models import IdempotencyKey

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255


def idempotency_key_from(request) -> str:
    """The request's Idempotency-Key: 1–255 printable ASCII characters, else a 400."""
    key = request.headers.get(HEADER)
    if key is None or key == "":
        raise InvalidRequestError(
            "Every POST needs an Idempotency-Key header: a unique value per operation, reused on retries.",
            code="idempotency_key_missing",
        )
    if len(key) > MAX_KEY_LENGTH or not all(" " <= char <= "~" for char in key):
        raise InvalidRequestError(
            "The Idempotency-Key must be 1 to 255 printable ASCII characters.", code="idempotency_key_invalid"
        )
    return key


def request_fingerprint(method: str, path: str, data) -> str:
    """SHA-256 of method, path and the canonical JSON of the parsed body.

    Key order and whitespace do not change it; an empty body counts as ``{}``.
    """
    canonical = json.dumps(data if data not in (None, "") else {}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{method}\n{path}\n{canonical}".encode()).hexdigest()


def _lock_timeout() -> timedelta:
    # Longer than any request can take (the processor timeouts included), so a
    # key still "in progress" after it belongs to a request whose process died.
    return timedelta(seconds=getattr(settings, "IDEMPOTENCY_LOCK_TIMEOUT_SECONDS", 120))


def _replay(record: IdempotencyKey) -> HttpResponse:
    response = HttpResponse(bytes(record.response_body), status=record.response_status, content_type="application/json")
    response[REPLAYED_HEADER] = "true"
    return response


def _claim(*, merchant, key: str, method: str, path: str, fingerprint: str) -> IdempotencyKey | HttpResponse:
    """Insert the key, or explain why this request may not execute (raise) or was already answered (replay)."""
    now = timezone.now()
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                # The claim need not wait for its own disk flush: any write the request
                # goes on to make commits durably, and that flush carries this row too.
                # A database crash can lose only a claim whose request wrote nothing,
                # which is then safe to execute again.
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
            return IdempotencyKey.objects.create(
                merchant=merchant, key=key, method=method, path=path, fingerprint=fingerprint, locked_at=now
            )
    except IntegrityError:
        pass
    existing = IdempotencyKey.objects.get(merchant=merchant, key=key)
    if (existing.method, existing.path, existing.fingerprint) != (method, path, fingerprint):
        raise IdempotencyKeyReusedError(
            "This Idempotency-Key was already used with a different request. Use a new key for a new request.",
        )
    if existing.status == IdempotencyKey.Status.COMPLETED:
        return _replay(existing)
    if existing.locked_at > now - _lock_timeout():
        raise IdempotencyKeyInUseError(
            "A request with this Idempotency-Key is still being processed. Retry after it completes."
        )
    # The request that held the key died mid-way. Take the key over, conditionally, so
    # exactly one retry re-executes; the services it calls are themselves idempotent.
    taken = IdempotencyKey.objects.filter(
        pk=existing.pk, status=IdempotencyKey.Status.IN_PROGRESS, locked_at=existing.locked_at
    ).update(locked_at=now)
    if not taken:
        raise IdempotencyKeyInUseError("A request with this Idempotency-Key is still being processed.")
    logger.warning("idempotency key %s of %s taken over after a stale lock", existing.pk, merchant.pk)
    return existing


def run_idempotent(request, execute: Callable[..., tuple[int, dict]], prepare: Callable[[], object] | None = None):
    """Execute ``execute`` at most once per (merchant, Idempotency-Key) and store its answer.

    ``execute`` returns ``(status, body)`` or raises. Whatever the outcome once
    execution has begun (success, decline, bad state, even a 500) the status and
    body are stored and replayed to every later request with the same key and the
    same method, path and body.

    Validation is not stored, so a corrected request may reuse the key: body
    validation happens before this call, and ``prepare`` (validation that costs a
    call, such as asking the processor about a token) runs only once the key is
    claimed, so a replay never pays for it. If ``prepare`` raises, the key is
    released; otherwise its result is passed to ``execute``.
    """
    key = idempotency_key_from(request)
    claimed = _claim(
        merchant=request.user,
        key=key,
        method=request.method,
        path=request.path,
        fingerprint=request_fingerprint(request.method, request.path, request.data),
    )
    if isinstance(claimed, HttpResponse):
        return claimed

    if prepare is not None:
        try:
            prepared = prepare()
        except Exception:
            IdempotencyKey.objects.filter(pk=claimed.pk, status=IdempotencyKey.Status.IN_PROGRESS).delete()
            raise
        arguments = (prepared,)
    else:
        arguments = ()

    try:
        status, body = execute(*arguments)
    except Exception as exc:  # noqa: BLE001 - every outcome is stored, as the contract requires
        error = to_api_error(exc)
        if error is None:
            logger.exception("Unhandled error while executing %s %s", request.method, request.path)
            error = ApiServerError()
        status, body = error.status_code, error.as_body()

    content = JSONRenderer().render(body)
    IdempotencyKey.objects.filter(pk=claimed.pk).update(
        status=IdempotencyKey.Status.COMPLETED,
        response_status=status,
        response_body=content,
        completed_at=timezone.now(),
    )
    return HttpResponse(content, status=status, content_type="application/json")


def idempotency_keys_prune(*, older_than: timedelta = timedelta(hours=24)) -> int:
    """Delete keys older than ``older_than`` (at least 24 hours by contract). Returns how many."""
    older_than = max(older_than, timedelta(hours=24))
    deleted, _ = IdempotencyKey.objects.filter(created__lt=timezone.now() - older_than).delete()
    return deleted
