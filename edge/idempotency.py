"""The merchant API's idempotency layer (docs/api.md, "Idempotency"; the IETF Idempotency-Key
draft; Stripe's published design of idempotency keys with recovery points).

Every POST under /api/v1/ runs through ``run_idempotent``. The unique constraint on
(merchant, key) decides which request executes: the first INSERT wins, every other
request with the same key finds the row and is answered 422 (different request),
409 (still executing) or with the stored response, byte for byte.

The key also records how far its request got (``recovery_point``), in the same
transactions as the work. A request that ends without a definite answer (its
connection dropped, its process died, the processor did not answer) leaves the key
resumable: the next request with the key carries on from the recovery point and
answers with the object's true outcome. Only definite answers are ever stored.
"""

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.http import HttpResponse
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from core.db import PreparedRead, insert_unless_taken, update_row_statement, write
from core.errors import InvalidRequestError
from edge.errors import IdempotencyKeyInUseError, IdempotencyKeyReusedError, ServerError
from edge.exception_handler import answer_for, error_answer
from edge.models import IdempotencyKey

RecoveryPoint = IdempotencyKey.RecoveryPoint

logger = logging.getLogger(__name__)

# Every replay reads the key that refused its claim: compiled once (core.db.PreparedRead).
_key_of_merchant = PreparedRead(
    lambda merchant_id, key: IdempotencyKey.objects.filter(merchant_id=merchant_id, key=key)
)

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


def _canonical_request(method: str, path: str, data) -> bytes:
    canonical = json.dumps(data if data not in (None, "") else {}, sort_keys=True, separators=(",", ":"))
    return f"{method}\n{path}\n{canonical}".encode()


def request_fingerprint(method: str, path: str, data) -> str:
    """HMAC-SHA256, keyed with the API key pepper, of method, path and the canonical JSON of the parsed body.

    Key order and whitespace do not change it; an empty body counts as ``{}``. Keyed because a body may hold a
    bank account number (an external account's): a plain hash of a short number can be reversed by trying them
    all, while this one cannot be without the pepper, which is not in the database.
    """
    key = f"idempotency-fingerprint:{settings.API_KEY_PEPPER}".encode()
    return hmac.new(key, _canonical_request(method, path, data), hashlib.sha256).hexdigest()


def _same_request(record: IdempotencyKey, method: str, path: str, fingerprint: str, data) -> bool:
    if (record.method, record.path) != (method, path):
        return False
    if hmac.compare_digest(record.fingerprint, fingerprint):
        return True
    # Keys claimed before fingerprints were keyed hold the plain SHA-256 (24 hours on, the prune has removed them).
    return hmac.compare_digest(record.fingerprint, hashlib.sha256(_canonical_request(method, path, data)).hexdigest())


def _lock_timeout() -> timedelta:
    # Longer than any request can take (the processor timeouts included), so a
    # key still locked after it belongs to a request whose process died.
    return timedelta(seconds=settings.IDEMPOTENCY_LOCK_TIMEOUT_SECONDS)


def _replay(record: IdempotencyKey) -> HttpResponse:
    response = HttpResponse(bytes(record.response_body), status=record.response_status, content_type="application/json")
    response[REPLAYED_HEADER] = "true"
    return response


@dataclass(frozen=True)
class Answer:
    """An answer to a request. ``final`` False: it describes a state still moving (a payment left
    ``processing`` by a processor that did not answer), so it is not stored; a retry with the key
    resumes and answers what is true then."""

    status: int
    body: dict
    final: bool = True


def _answer_of(call: Callable[[], "tuple[int, dict] | Answer"]) -> Answer:
    """What ``call`` answers, its errors included, in the contract's shape: one conversion for the answers
    stored by ``run_idempotent`` and for those stored by a service's last transaction (``Progress.finisher``)."""
    try:
        answer = call()
    except Exception as exc:  # noqa: BLE001 - every outcome becomes an answer in the contract's shape
        error = answer_for(exc)
        if error is None:
            raise
        return Answer(error.status, error.body, final=_is_final(error.status))
    if isinstance(answer, Answer):
        return answer
    status, body = answer
    return Answer(status, body)


@dataclass
class Progress:
    """What an executing request knows of its own key: how far an earlier execution of it got.

    ``reached`` records a recovery point. Call it inside the transaction that does the work the
    point names, so the work and the record of it commit together or not at all: a retry that
    finds ``intent_recorded`` knows the intent committed, one that finds ``started`` knows nothing
    but the key was written.
    """

    record: IdempotencyKey
    # (status, bytes) of a final answer a service's transaction stored with the key and committed.
    stored: tuple[int, bytes] | None = None

    @property
    def recovery_point(self) -> str:
        return self.record.recovery_point

    @property
    def resumed(self) -> bool:
        """An earlier execution of this key committed its intent: resume, never repeat it."""
        return self.record.recovery_point != RecoveryPoint.STARTED

    @property
    def resource_id(self) -> str | None:
        return self.record.resource_id

    @property
    def claim(self) -> str:
        """A name for this request that is the same on every retry with the key (for claims on objects)."""
        return f"idem:{self.record.pk}"

    def reached(self, point: str, *, resource_id: str | None = None) -> None:
        changes = {"recovery_point": point}
        if resource_id is not None:
            changes["resource_id"] = resource_id
        # Sent with the service's other writes when it writes them together (core.db.writes_together).
        write(update_row_statement(IdempotencyKey, self.record.pk, changes))
        self.record.recovery_point = point
        if resource_id is not None:
            self.record.resource_id = resource_id

    def recorder(self, point: str) -> Callable[[object], None]:
        """A checkpoint to hand a service: records ``point`` and the object's id inside the
        service's own transaction."""
        return lambda obj: self.reached(point, resource_id=obj.pk)

    def finisher(self, answer_of: Callable[[object], "tuple[int, dict] | Answer"], *, otherwise: str):
        """A checkpoint for a service's LAST transaction: the request's answer, computed from the object as
        that transaction leaves it, is stored with the key in the same transaction when it is final, so the
        outcome and its answer commit together (no separate write, no moment where the work is done and its
        answer not stored). When it is not final, the recovery point ``otherwise`` is recorded instead.

        ``run_idempotent`` answers with the stored bytes once the transaction has committed."""

        def finish(obj) -> None:
            answer = _answer_of(lambda: answer_of(obj))
            if not answer.final:
                self.reached(otherwise, resource_id=obj.pk)
                return
            content = JSONRenderer().render(answer.body)
            _store(self.record, answer.status, content)
            transaction.on_commit(lambda: setattr(self, "stored", (answer.status, content)))

        return finish

    def resource_of_this_key(self) -> str | None:
        """The resource recorded on the key in the database now (another execution may have recorded it)."""
        return IdempotencyKey.objects.filter(pk=self.record.pk).values_list("resource_id", flat=True).first()


def _claim(*, merchant, key: str, method: str, path: str, fingerprint: str, data) -> IdempotencyKey | HttpResponse:
    """Insert the key, or explain why this request may not execute (raise) or was already answered (replay)."""
    now = timezone.now()
    record = IdempotencyKey(
        merchant=merchant, key=key, method=method, path=path, fingerprint=fingerprint, locked_at=now
    )
    # The claim need not wait for its own disk flush: any write the request goes on to make commits
    # durably, and that flush carries this row too. A database crash can lose only a claim whose request
    # wrote nothing, which is then safe to execute again.
    if insert_unless_taken(record, synchronous_commit=False):
        return record
    existing = _key_of_merchant.first(merchant.pk, key)
    if existing is None:  # deleted in between (its request let go of it having done nothing): try once more
        return _claim(merchant=merchant, key=key, method=method, path=path, fingerprint=fingerprint, data=data)
    if not _same_request(existing, method, path, fingerprint, data):
        raise IdempotencyKeyReusedError(
            "This Idempotency-Key was already used with a different request. Use a new key for a new request.",
        )
    if existing.status == IdempotencyKey.Status.COMPLETED:
        return _replay(existing)
    if existing.locked_at is not None and existing.locked_at > now - _lock_timeout():
        raise IdempotencyKeyInUseError(
            "A request with this Idempotency-Key is still being processed. Retry after it completes."
        )
    # The request that held the key let go of it without a final answer, or died mid-way.
    # Take the key over, conditionally, so exactly one retry resumes from its recovery point.
    taken = (
        IdempotencyKey.objects.filter(
            pk=existing.pk, status=IdempotencyKey.Status.IN_PROGRESS, locked_at=existing.locked_at
        )
        if existing.locked_at is not None
        else IdempotencyKey.objects.filter(
            pk=existing.pk, status=IdempotencyKey.Status.IN_PROGRESS, locked_at__isnull=True
        )
    )
    if not taken.update(locked_at=now):
        raise IdempotencyKeyInUseError("A request with this Idempotency-Key is still being processed.")
    if existing.locked_at is not None:
        logger.warning("idempotency key %s of %s taken over after a stale lock", existing.pk, merchant.pk)
    existing.locked_at = now
    return existing


def _is_final(status: int) -> bool:
    """Whether an error answer is the request's definite outcome, to be stored and replayed.

    A refusal based on the state the request found (400, 402, 404, 422) is. A 5xx is not: the
    outcome is unknown (the processor did not answer) or the failure is ours; neither is a 409, a
    conflict with a request still running. Those answer this client only, and a retry resumes.
    """
    return status < 500 and status != 409


def _reconnect_if_broken() -> None:
    # After a lost connection Django keeps the dead one until the request ends; outside a
    # transaction it is safe to drop it, so the key can still be let go of on a new one.
    if not connection.in_atomic_block and connection.connection is not None and not connection.is_usable():
        connection.close()


def _let_go(record: IdempotencyKey) -> None:
    """Give up the key without a final answer: deleted if nothing but the key was written (a retry
    starts afresh), unlocked otherwise (a retry resumes at once). If the database cannot be
    reached now, the lock simply expires."""
    try:
        _reconnect_if_broken()
        ours = IdempotencyKey.objects.filter(
            pk=record.pk, status=IdempotencyKey.Status.IN_PROGRESS, locked_at=record.locked_at
        )
        deleted, _ = ours.filter(recovery_point=RecoveryPoint.STARTED).delete()
        if not deleted:
            ours.update(locked_at=None)
    except DatabaseError:
        logger.warning("could not let go of idempotency key %s; its lock will expire", record.pk)


def _store(record: IdempotencyKey, status: int, content: bytes) -> None:
    write(
        update_row_statement(
            IdempotencyKey,
            record.pk,
            {
                "status": IdempotencyKey.Status.COMPLETED,
                "recovery_point": RecoveryPoint.FINISHED,
                "response_status": status,
                "response_body": content,
                "completed_at": timezone.now(),
                "locked_at": None,
            },
            where={"status": IdempotencyKey.Status.IN_PROGRESS},
        )
    )


def run_idempotent(
    request, execute: Callable[..., tuple[int, dict] | Answer], prepare: Callable[[], object] | None = None
):
    """Execute ``execute`` at most once per (merchant, Idempotency-Key); store its definite answer.

    ``execute(progress[, prepared])`` returns ``(status, body)``, an ``Answer``, or raises. It
    records recovery points through ``progress`` inside its own transactions, and when
    ``progress.resumed`` it resumes the earlier execution instead of repeating it: a retry after a
    crash, a lost connection or a processor that did not answer then learns the object's true
    outcome. Guarantees:

    - a definite answer (success, decline, a refusal based on the state the request found) is
      stored with the key and replayed byte for byte to every later request with the same key
      and the same method, path and body;
    - anything else (a 5xx, a 409, an answer marked not final) goes to this client only: the key
      is deleted if nothing was written but the key, unlocked otherwise, never stored as final;
    - validation is not stored, so a corrected request may reuse the key: body validation happens
      before this call, and ``prepare`` (validation that costs a call, such as asking the processor
      about a token) runs once the key is claimed and only on a first execution, so neither a
      replay nor a resumption pays for it. If ``prepare`` raises, the key is let go of.
    """
    key = idempotency_key_from(request)
    claimed = _claim(
        merchant=request.user,
        key=key,
        method=request.method,
        path=request.path,
        fingerprint=request_fingerprint(request.method, request.path, request.data),
        data=request.data,
    )
    if isinstance(claimed, HttpResponse):
        return claimed
    progress = Progress(claimed)

    arguments: tuple = (progress,)
    if prepare is not None:
        prepared = None
        if not progress.resumed:
            try:
                prepared = prepare()
            except Exception:
                _let_go(claimed)
                raise
        arguments = (progress, prepared)

    try:
        answer = _answer_of(lambda: execute(*arguments))
    except Exception:  # noqa: BLE001 - every outcome becomes an answer in the contract's shape
        logger.exception("Unhandled error while executing %s %s", request.method, request.path)
        error = error_answer(ServerError())
        answer = Answer(error.status, error.body, final=False)
    if progress.stored is not None:
        # The service's last transaction stored the final answer with its work, and committed: those bytes.
        status, content = progress.stored
        return HttpResponse(content, status=status, content_type="application/json")

    status, final = answer.status, answer.final
    content = JSONRenderer().render(answer.body)
    if final:
        try:
            _reconnect_if_broken()
            _store(claimed, status, content)
        except DatabaseError:
            # The answer is true but could not be stored: the key stays locked until its lock
            # expires, then a retry resumes from the recovery point and finds the same outcome.
            logger.warning("could not store the answer of idempotency key %s", claimed.pk)
    else:
        _let_go(claimed)
    return HttpResponse(content, status=status, content_type="application/json")


def idempotency_keys_prune(*, older_than: timedelta = timedelta(hours=24)) -> int:
    """Delete keys older than ``older_than`` (at least 24 hours by contract). Returns how many."""
    older_than = max(older_than, timedelta(hours=24))
    deleted, _ = IdempotencyKey.objects.filter(created__lt=timezone.now() - older_than).delete()
    return deleted
