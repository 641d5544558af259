"""Executing a POST at most once per idempotency key, with the run's faults injected around it.

The contract is the platform's own (api.md "Idempotency"): the key row is
inserted first in its own short transaction (the unique constraint decides who
executes); the work and the stored answer commit together; the same request
again is answered with the stored bytes and ``Idempotent-Replayed: true``;
another request with the key is 422; the key while in flight is 409.
"""

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from sandbox import runtime, services
from sandbox.errors import InvalidRequest, ProcessingError, SandboxError
from sandbox.models import FaultSettings

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Result:
    """What an operation answers: its status and JSON body, and how long to hold the answer back."""

    status: int
    body: dict
    delay_seconds: float = 0.0


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    replayed: bool = False


def dumps(body: dict) -> str:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def idempotency_key_from(header: str | None) -> str:
    """The request's Idempotency-Key: 1–255 printable ASCII characters, else 400."""
    if header is None or header == "":
        raise InvalidRequest("An Idempotency-Key header is required for this request.", code="idempotency_key_missing")
    if len(header) > MAX_KEY_LENGTH or not all(" " <= char <= "~" for char in header):
        raise InvalidRequest(
            "The Idempotency-Key must be 1 to 255 printable ASCII characters.", code="idempotency_key_invalid"
        )
    return header


def fingerprint(method: str, path: str, data: dict) -> str:
    """Identifies the request: method, path and the parsed body, whatever its key order or whitespace.

    Keyed with the service's secret, because a body may carry a card number and
    a plain hash of one is easily reversed.
    """
    canonical = f"{method} {path} {json.dumps(data, sort_keys=True, separators=(',', ':'))}"
    return hmac.new(settings.SECRET_KEY.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def execute(
    *, scope: str, key: str, request_fingerprint: str, operation: Callable[[], Result], faults: FaultSettings | None
) -> Answer:
    """Run ``operation`` once for ``key`` and answer; replay the stored answer for a repeat.

    With ``faults``, the run's latency is added and its error rate may answer
    500 before anything is charged. A 500 (injected or a processing error)
    stores nothing: the key is released and a retry executes again. A delayed
    answer (``Result.delay_seconds``) is committed first and only then held
    back; until it is sent the key answers 409.
    """
    claimed = services.idempotency_key_claim(scope=scope, key=key, fingerprint=request_fingerprint)
    if isinstance(claimed, services.StoredAnswer):
        return Answer(claimed.status, claimed.body, replayed=True)
    try:
        if faults is not None:
            runtime.pause(faults.latency_ms / 1000)
            if faults.error_rate > 0 and services.fault_draw_error(error_rate=faults.error_rate):
                raise ProcessingError("The processor failed (injected fault). Nothing was charged.")
        with transaction.atomic():
            try:
                result = operation()
            except SandboxError as error:
                if not error.stored:
                    raise
                result = Result(error.status, error.body())
            body = dumps(result.body)
            replay_after = timezone.now() + timedelta(seconds=result.delay_seconds) if result.delay_seconds else None
            services.idempotency_key_complete(claim=claimed, status=result.status, body=body, replay_after=replay_after)
    except SandboxError as error:
        services.idempotency_key_release(claim=claimed)
        return Answer(error.status, dumps(error.body()))
    except BaseException:
        services.idempotency_key_release(claim=claimed)
        raise
    runtime.pause(result.delay_seconds)
    return Answer(result.status, body)
