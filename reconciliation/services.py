"""Every write of reconciliation. Each service owns its transactions.

``reconciliation_run`` proves a day: it fetches the processor's settlement report
(outside any transaction) or has the processor's adapter read a file, imports
it, matches it against the ledger and the payments, and turns every difference
into a ``ReconciliationException``, all in ONE transaction: a bad line anywhere imports
nothing, and a re-run of the day replaces the run's lines and its open
exceptions as a whole. Then, each in its own transaction, it resolves the
exceptions whose answer is certain (a ``processing`` payment the processor
settled as captured, a payout we hold ``in_transit`` that it settled as paid),
with an audit entry each.

Staff resolve the rest (``exception_write_off``, ``exception_adjust``,
``exception_explain``): a conditional update moves an exception from open to
resolved once, with its audit entry (and, for an adjustment, its ledger entry)
in the same transaction.
"""

import datetime
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from core.audit import audit_record
from core.db import assert_no_transaction
from core.errors import InvalidRequestError
from core.money import MAX_AMOUNT, format_amount
from core.staff import require_staff_permission, staff_actor
from gateways.base import Charge, ProcessorError, SettlementReport, SettlementReportInvalid
from gateways.base import Payout as ProcessorPayout
from gateways.base import PayoutStatus as ProcessorPayoutStatus
from gateways.registry import processor as processor_adapter
from gateways.registry import processor_exists, processor_outside_transaction
from ledger import posting_rules
from ledger.models import JournalEntry
from payments.models import CaptureMethod, Payment, PaymentStatus
from payments.services import payment_apply_charge
from payouts.models import Payout, PayoutStatus
from payouts.payout_services import payout_apply_processor_payout
from reconciliation import matching
from reconciliation.errors import ExceptionAlreadyResolved, ExceptionNotAdjustable, ReconciliationFailed, ReportInvalid
from reconciliation.models import ExceptionType, LineType, ReconciliationException, ReconciliationRun
from reconciliation.report import ProcessorFees, ReportReader

logger = logging.getLogger(__name__)

SYSTEM_ACTOR = "system:reconciliation"
RESOLVE_PERMISSION = "resolve_reconciliation_exception"
Status = ReconciliationException.Status
Resolution = ReconciliationException.Resolution


@dataclass(frozen=True)
class RunOutcome:
    run: ReconciliationRun
    lines: int
    matched: int
    counts: dict[str, int]  # every exception type, zeros included
    auto_resolved: int

    def as_json(self) -> dict:
        return {"matched": self.matched, "exceptions": dict(self.counts)}


def _day_bounds(day: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    start = datetime.datetime.combine(day, datetime.time.min, tzinfo=datetime.UTC)
    return start, start + datetime.timedelta(days=1)


def _run_begin(
    *, processor: str, settlement_date: datetime.date, source: str, started: datetime.datetime
) -> ReconciliationRun:
    """The processor's day's run row (created the first time), marked running. Committed at once, so a failure can
    be recorded."""
    run, _ = ReconciliationRun.objects.update_or_create(
        processor=processor,
        settlement_date=settlement_date,
        defaults={
            "status": ReconciliationRun.Status.RUNNING,
            "source": source,
            "started": started,
            "finished": None,
            "error": "",
        },
    )
    return run


def _run_fail(run: ReconciliationRun, message: str) -> None:
    ReconciliationRun.objects.filter(pk=run.pk).update(
        status=ReconciliationRun.Status.FAILED, error=message, finished=timezone.now()
    )
    logger.error("reconciliation of %s %s failed: %s", run.processor, run.settlement_date, message)


@contextmanager
def _settlement_report(
    *, processor: str, settlement_date: datetime.date, path: str | Path | None
) -> Iterator[SettlementReport]:
    """The report of the processor's day: fetched from the processor (holding no transaction), or the file at
    ``path`` read by that processor's adapter, in its format (the file stays open while the report is read)."""
    if path is None:
        try:
            report = processor_outside_transaction(processor, "fetching the settlement report").settlement_report(
                day=settlement_date
            )
        except ProcessorError as error:
            raise ReconciliationFailed(
                f"the processor's report of {settlement_date} could not be fetched: {error}", retryable=True
            ) from error
        yield report
        return
    try:
        file = open(path, "rb")  # closed by the with below, once the report has been read
    except OSError as error:
        raise ReconciliationFailed(f"cannot read {path}: {error.strerror or error}") from error
    with file:
        try:
            report = processor_adapter(processor).read_settlement_report(file=file)
        except OSError as error:
            raise ReconciliationFailed(f"cannot read {path}: {error.strerror or error}") from error
        yield report


def reconciliation_run(*, processor: str, settlement_date: datetime.date, path: str | Path | None = None) -> RunOutcome:
    """Reconcile ``processor``'s ``settlement_date`` (a UTC day) against its report, or the file at ``path``.

    Only the ledger entries of payments that processor holds count, with the fees its configuration states.
    Guarantees: one run per processor and day, replaced by a re-run; the report is imported
    entirely or not at all (a bad file raises ``ReconciliationFailed`` naming the
    line, and the run row records it as failed); exceptions are never
    duplicated, resolved ones stay resolved, open ones become exactly the new
    findings; only ledger entries posted before the run started count, so a
    still-running day is not blamed for what happened after the report was
    fetched. Automatic resolutions follow, each recorded in the audit trail.
    """
    assert_no_transaction("reconciling a day")
    started = timezone.now()
    source = (f"file:{path}" if path is not None else "processor")[:500]
    if not processor_exists(processor):
        raise ReconciliationFailed(f"no processor is configured under the name {processor!r}")
    run = _run_begin(processor=processor, settlement_date=settlement_date, source=source, started=started)
    try:
        with _settlement_report(processor=processor, settlement_date=settlement_date, path=path) as report:
            run, tally = _import_and_match(run=run, report=report, started=started)
    except (ReportInvalid, SettlementReportInvalid) as error:
        _run_fail(run, str(error))
        raise ReconciliationFailed(str(error)) from error
    except ReconciliationFailed as error:
        _run_fail(run, error.message)
        raise
    except Exception as error:
        _run_fail(run, f"unexpected error: {error!r}")
        raise
    auto_resolved = exceptions_auto_resolve(processor=processor, settlement_date=settlement_date)
    ReconciliationRun.objects.filter(pk=run.pk).update(auto_resolved=auto_resolved, finished=timezone.now())
    run.refresh_from_db()
    logger.info(
        "reconciliation of %s %s: %s lines, %s matched, exceptions %s, %s resolved automatically",
        processor,
        settlement_date,
        tally.lines,
        tally.matched,
        tally.counts,
        auto_resolved,
    )
    return RunOutcome(
        run=run, lines=tally.lines, matched=tally.matched, counts=tally.counts, auto_resolved=auto_resolved
    )


def _import_and_match(*, run: ReconciliationRun, report: SettlementReport, started: datetime.datetime):
    day = run.settlement_date
    start, end = _day_bounds(day)
    with transaction.atomic():
        # Serialises runs of the same day: a second one waits here, then replaces the first one's work.
        run = ReconciliationRun.objects.select_for_update().get(pk=run.pk)
        matching.tune_transaction()
        reader = ReportReader(report, day=day, fees=ProcessorFees.from_settings(run.processor))
        lines = matching.lines_replace(run_id=run.pk, batches=reader.batches())
        tally = matching.match(
            run_id=run.pk,
            processor=run.processor,
            settlement_date=day,
            start=start,
            cutoff=min(end, started),
            lines=lines,
            suspects=reader.repeated_keys,
            now=timezone.now(),
        )
        ReconciliationRun.objects.filter(pk=run.pk).update(
            status=ReconciliationRun.Status.SUCCEEDED,
            finished=timezone.now(),
            lines=tally.lines,
            internal_items=tally.internal_items,
            matched=tally.matched,
            exception_counts=tally.counts,
            auto_resolved=0,
            error="",
            report_sha256=report.sha256,
        )
    return run, tally


# --- Automatic resolution: only where the answer is certain -------------------------------------------------


def _auto_resolution_doubt(exception: ReconciliationException, payment: Payment | None) -> str:
    """Why settling the payment from this line would be a guess ("" when it would not be)."""
    if payment is None:
        return "the payment does not exist"
    if payment.processor != exception.processor:
        return f"the payment is with {payment.processor}, the line is in {exception.processor}'s report"
    if payment.capture_method != CaptureMethod.AUTOMATIC:
        return "the payment is captured manually, so the processor should not have captured it yet"
    if exception.currency != payment.currency:
        return f"the line is in {exception.currency}, the payment in {payment.currency}"
    if exception.external_amount != payment.amount:
        return f"the line settles {exception.external_amount}, the payment is for {payment.amount}"
    if payment.processor_charge_id and payment.processor_charge_id != exception.processor_id:
        return f"the payment belongs to charge {payment.processor_charge_id}, the line to {exception.processor_id}"
    return ""


def exception_auto_resolve(*, exception_id: int) -> bool:
    """Settle a ``processing`` payment that the report shows captured, and resolve its exception; True if done.

    The payment moves through its state machine (``payment_apply_charge``, with
    its ledger entries and its event), the exception becomes ``auto_resolved``
    with the charge entry, and an audit entry is written, all in one
    transaction. Anything short of certainty leaves the exception open for
    staff, with the reason in its details.
    """
    exception = ReconciliationException.objects.get(pk=exception_id)
    payment = Payment.objects.filter(pk=exception.match_key).first()
    doubt = _auto_resolution_doubt(exception, payment)
    if doubt:
        ReconciliationException.objects.filter(pk=exception.pk, status=Status.OPEN).update(
            details={**exception.details, "not_auto_resolved": doubt}
        )
        return False
    charge = Charge(
        processor_id=exception.processor_id,
        reference=payment.id,
        status="captured",
        amount=exception.external_amount,
        amount_captured=exception.external_amount,
        currency=exception.currency,
        decline_code=None,
        failure_message=None,
        card=None,
    )
    with transaction.atomic():
        locked = ReconciliationException.objects.select_for_update().filter(pk=exception.pk, status=Status.OPEN).first()
        if locked is None:
            return False
        before = Payment.objects.get(pk=payment.pk).status
        payment = payment_apply_charge(payment_id=payment.pk, charge=charge, actor=SYSTEM_ACTOR)
        if payment.status != PaymentStatus.SUCCEEDED or payment.amount_captured != exception.external_amount:
            return False
        entry = (
            JournalEntry.objects.filter(
                type=JournalEntry.Type.CHARGE, source=payment.pk, status=JournalEntry.Status.POSTED
            )
            .order_by("id")
            .first()
        )
        lines = ", ".join(str(n) for n in exception.details.get("lines", []))
        note = (
            f"The processor settled charge {exception.processor_id} as captured (report of "
            f"{exception.settlement_date}, line {lines}); payment {payment.pk} moved from {before} to succeeded."
        )
        _resolved_automatically(
            locked,
            note=note,
            entry=entry,
            before={"payment": payment.pk, "payment_status": before},
            after={"payment_status": payment.status, "amount_captured": payment.amount_captured},
        )
    return True


def _resolved_automatically(exception: ReconciliationException, *, note: str, entry, before: dict, after: dict):
    """Mark the open exception (locked by the caller) ``auto_resolved`` with the ledger entry that settled it, and
    write its audit entry, in the caller's transaction."""
    now = timezone.now()
    ReconciliationException.objects.filter(pk=exception.pk).update(
        status=Status.RESOLVED,
        resolution=Resolution.AUTO_RESOLVED,
        note=note,
        resolved_at=now,
        ledger_entry=entry,
        updated=now,
    )
    audit_record(
        actor=SYSTEM_ACTOR,
        action="reconciliation_exception.auto_resolve",
        obj=exception,
        before={"status": Status.OPEN, **before},
        after={
            "status": Status.RESOLVED,
            "resolution": Resolution.AUTO_RESOLVED,
            **after,
            "ledger_entry": entry.pk if entry else None,
        },
        reason=note,
    )


def _payout_auto_resolution_doubt(exception: ReconciliationException, payout: Payout | None) -> str:
    """Why settling the payout as paid from this line would be a guess ("" when it would not be)."""
    if payout is None:
        return "the payout does not exist"
    if payout.processor != exception.processor:
        return f"the payout was sent through {payout.processor}, the line is in {exception.processor}'s report"
    if payout.status == PayoutStatus.FAILED:
        # We gave the amount back to the merchant's available balance: if the processor did pay it, the merchant
        # has it twice. Only the processor can say which record is wrong.
        return (
            f"the payout failed ({payout.failure_code}) and its amount went back to the merchant's available "
            "balance: ask the processor whether it paid it"
        )
    if payout.status == PayoutStatus.CANCELED or not payout.is_claimed:
        return f"the payout is {payout.status} and was never sent, so the processor cannot have paid it"
    if exception.currency != payout.currency:
        return f"the line is in {exception.currency}, the payout in {payout.currency}"
    if exception.external_amount != -payout.amount:
        return f"the line pays out {exception.external_amount}, the payout is for {payout.amount}"
    if payout.processor_payout_id and payout.processor_payout_id != exception.processor_id:
        return f"the payout is the processor's {payout.processor_payout_id}, the line is {exception.processor_id}"
    return ""


def exception_auto_resolve_payout(*, exception_id: int) -> bool:
    """Settle as paid a payout the report shows paid and we still hold in transit (or sent, with no answer yet),
    and resolve its exception; True if done.

    The processor's line is its record that the money reached the bank, the same fact its ``payout.paid``
    webhook states: the payout moves forward through ``payouts`` (``payout_apply_processor_payout``, with its
    ``payout.paid`` ledger entry and event), the exception becomes ``auto_resolved`` with that entry, and an
    audit entry is written, all in one transaction. A payout that failed, was canceled, was never sent or
    differs from the line in currency, amount or processor id stays open for staff, with the reason in its
    details.
    """
    exception = ReconciliationException.objects.get(pk=exception_id)
    payout = Payout.objects.filter(pk=exception.match_key).first()
    doubt = _payout_auto_resolution_doubt(exception, payout)
    if doubt:
        ReconciliationException.objects.filter(pk=exception.pk, status=Status.OPEN).update(
            details={**exception.details, "not_auto_resolved": doubt}
        )
        return False
    answer = ProcessorPayout(
        processor_id=exception.processor_id,
        reference=payout.pk,
        amount=payout.amount,
        currency=exception.currency,
        destination="",
        status=ProcessorPayoutStatus.PAID,
        # Unknown to the report: the payout keeps the processor's estimate.
        arrival_date=0,
        failure_code=None,
    )
    with transaction.atomic():
        locked = ReconciliationException.objects.select_for_update().filter(pk=exception.pk, status=Status.OPEN).first()
        if locked is None:
            return False
        before = Payout.objects.get(pk=payout.pk).status
        payout = payout_apply_processor_payout(payout_id=payout.pk, answer=answer, actor=SYSTEM_ACTOR)
        if payout.status != PayoutStatus.PAID:
            return False
        entry = JournalEntry.objects.filter(
            event_key=f"payout.paid:{payout.pk}", status=JournalEntry.Status.POSTED
        ).first()
        lines = ", ".join(str(n) for n in exception.details.get("lines", []))
        note = (
            f"The processor settled payout {exception.processor_id} as paid (report of {exception.settlement_date}, "
            f"line {lines}); payout {payout.pk} moved from {before} to paid."
        )
        _resolved_automatically(
            locked,
            note=note,
            entry=entry,
            before={"payout": payout.pk, "payout_status": before},
            after={"payout_status": payout.status},
        )
    return True


def exceptions_auto_resolve(*, processor: str, settlement_date: datetime.date) -> int:
    """Try every open exception of the processor's day that may be certain; returns how many were resolved.

    The candidates: a charge line for a payment we hold ``processing``, and a payout line for a payout we do not
    hold as paid (each refusal records its reason, so finance sees why a failed payout's line waits for them).
    """
    day = ReconciliationException.objects.filter(
        processor=processor, settlement_date=settlement_date, status=Status.OPEN, type=ExceptionType.STATUS_MISMATCH
    )
    charges = day.filter(line_type=LineType.CHARGE, details__object_status=PaymentStatus.PROCESSING)
    payouts = day.filter(line_type=LineType.PAYOUT)
    candidates = [(pk, exception_auto_resolve) for pk in charges.order_by("id").values_list("id", flat=True)] + [
        (pk, exception_auto_resolve_payout) for pk in payouts.order_by("id").values_list("id", flat=True)
    ]
    resolved = 0
    for exception_id, resolve in candidates:
        try:
            resolved += resolve(exception_id=exception_id)
        except Exception as error:  # noqa: BLE001 - one refusal must not stop the others; it stays open for staff
            logger.exception("reconciliation exception %s could not be resolved automatically", exception_id)
            exception = ReconciliationException.objects.get(pk=exception_id)
            ReconciliationException.objects.filter(pk=exception_id, status=Status.OPEN).update(
                details={**exception.details, "not_auto_resolved": f"the attempt failed: {error}"}
            )
    return resolved


# --- Staff resolutions --------------------------------------------------------------------------------------


def _require_resolver(user) -> None:
    require_staff_permission(user, RESOLVE_PERMISSION, "resolve reconciliation exceptions")


def _resolve(
    *, exception: ReconciliationException, user, resolution: str, note: str, amount: int | None = None
) -> ReconciliationException:
    _require_resolver(user)
    note = (note or "").strip()
    if not note:
        raise InvalidRequestError(
            "Say why: a note is required to resolve an exception.", code="note_missing", param="note"
        )
    with transaction.atomic():
        locked = ReconciliationException.objects.select_for_update().filter(pk=exception.pk).first()
        if locked is None or locked.status != Status.OPEN:
            raise ExceptionAlreadyResolved(
                "This exception is no longer open: someone resolved it, or a re-run of its day replaced it. "
                "Reload the page."
            )
        entry = None
        if resolution == Resolution.ADJUSTED:
            entry = _adjust(locked, amount=amount, note=note, user=user)
        now = timezone.now()
        updated = ReconciliationException.objects.filter(pk=locked.pk, status=Status.OPEN).update(
            status=Status.RESOLVED,
            resolution=resolution,
            note=note,
            resolved_by=user,
            resolved_at=now,
            ledger_entry=entry if entry is not None else locked.ledger_entry,
            updated=now,
        )
        if updated != 1:
            raise ExceptionAlreadyResolved("This exception is no longer open. Reload the page.")
        after = {"status": Status.RESOLVED, "resolution": resolution}
        if entry is not None:
            after.update(
                {
                    "ledger_entry": entry.pk,
                    "amount": amount,
                    "currency": locked.currency,
                    "display": format_amount(amount, locked.currency),
                    "merchant": locked.merchant_id,
                }
            )
        audit_record(
            actor=staff_actor(user),
            action=f"reconciliation_exception.{resolution}",
            obj=locked,
            before={"status": Status.OPEN, "type": locked.type, "match_key": locked.match_key},
            after=after,
            reason=note,
        )
    locked.refresh_from_db()
    return locked


def _adjust(exception: ReconciliationException, *, amount, note: str, user) -> JournalEntry:
    if type(amount) is not int or amount == 0 or abs(amount) > MAX_AMOUNT:
        raise InvalidRequestError(
            "The adjustment is a non-zero integer in minor units.", code="amount_invalid", param="amount"
        )
    if exception.merchant_id is None or not exception.currency:
        raise ExceptionNotAdjustable(
            "This exception concerns no known merchant, so there is no balance to adjust: write it off or explain it."
        )
    memo = f"reconciliation {exception.settlement_date} {exception.type} {exception.match_key}: {note}"[:500]
    return posting_rules.manual_adjustment(
        adjustment_id=f"recon_{exception.pk}",
        merchant=exception.merchant_id,
        amount=amount,
        currency=exception.currency,
        memo=memo,
    )


def exception_write_off(*, exception: ReconciliationException, user, note: str) -> ReconciliationException:
    """Accept the difference as a loss or gain that needs no correction; resolved once, audited."""
    return _resolve(exception=exception, user=user, resolution=Resolution.WRITTEN_OFF, note=note)


def exception_adjust(*, exception: ReconciliationException, user, note: str, amount: int) -> ReconciliationException:
    """Correct the merchant's available balance by the signed ``amount`` (``manual_adjustment``) and resolve.

    The ledger entry, the resolution and the audit entry commit together or not at all.
    """
    return _resolve(exception=exception, user=user, resolution=Resolution.ADJUSTED, note=note, amount=amount)


def exception_explain(*, exception: ReconciliationException, user, note: str) -> ReconciliationException:
    """Record why the difference is not an error (a timing difference, a known processor issue…); audited."""
    return _resolve(exception=exception, user=user, resolution=Resolution.EXPLAINED, note=note)
