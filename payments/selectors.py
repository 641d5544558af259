"""Reads of payments, shared by the API, the admin, tasks and services."""

import json
import re
from contextlib import contextmanager
from datetime import datetime

from django.db import connections, transaction
from django.db.models import BooleanField, Count, Min, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.functions import Lower

from core.errors import ResourceMissingError
from merchants.models import Merchant
from payments.errors import PaymentNotFound
from payments.models import Dispute, Payment, PaymentStatus, Refund


def payments_of(*, merchant: Merchant) -> QuerySet[Payment]:
    return Payment.objects.filter(merchant=merchant)


def payment_get(*, merchant: Merchant, payment_id: str, param: str = "id") -> Payment:
    """The merchant's payment; another merchant's is answered exactly like a missing one."""
    payment = Payment.objects.filter(merchant=merchant, pk=payment_id).first()
    if payment is None:
        raise PaymentNotFound(f"No such payment: '{payment_id}'.", param=param)
    return payment


def refunds_of(*, merchant: Merchant) -> QuerySet[Refund]:
    return Refund.objects.filter(merchant=merchant)


def refund_get(*, merchant: Merchant, refund_id: str) -> Refund:
    refund = Refund.objects.filter(merchant=merchant, pk=refund_id).first()
    if refund is None:
        raise ResourceMissingError(f"No such refund: '{refund_id}'.", param="id")
    return refund


def disputes_of(*, merchant: Merchant) -> QuerySet[Dispute]:
    return Dispute.objects.filter(merchant=merchant)


def dispute_get(*, merchant: Merchant, dispute_id: str) -> Dispute:
    dispute = Dispute.objects.filter(merchant=merchant, pk=dispute_id).first()
    if dispute is None:
        raise ResourceMissingError(f"No such dispute: '{dispute_id}'.", param="id")
    return dispute


def payment_ids_processing_since_before(*, cutoff: datetime, limit: int) -> list[str]:
    """Payments whose outcome has been unknown since before ``cutoff``, oldest first."""
    return list(
        Payment.objects.filter(status=PaymentStatus.PROCESSING, processing_since__lt=cutoff)
        .order_by("processing_since")
        .values_list("pk", flat=True)[:limit]
    )


def payment_ids_with_operation_pending_before(*, cutoff: datetime, limit: int) -> list[str]:
    """Authorised payments whose capture or void was sent without a known outcome."""
    return list(
        Payment.objects.filter(status=PaymentStatus.REQUIRES_CAPTURE, processor_operation_pending_since__lt=cutoff)
        .order_by("processor_operation_pending_since")
        .values_list("pk", flat=True)[:limit]
    )


def payment_ids_authorized_before(*, cutoff: datetime, limit: int) -> list[str]:
    """Uncaptured authorisations older than ``cutoff``: the ones to expire."""
    return list(
        Payment.objects.filter(status=PaymentStatus.REQUIRES_CAPTURE, authorized_at__lt=cutoff)
        .order_by("authorized_at")
        .values_list("pk", flat=True)[:limit]
    )


def payment_ids_awaiting_action_before(*, cutoff: datetime, limit: int) -> list[str]:
    """Wallet payments waiting for the customer's approval since before ``cutoff``, oldest first."""
    return list(
        Payment.objects.filter(status=PaymentStatus.REQUIRES_ACTION, requires_action_since__lt=cutoff)
        .order_by("requires_action_since")
        .values_list("id", flat=True)[:limit]
    )


# --- /metrics: aggregates computed at scrape time (payments/metrics.py) ---------------------------------------


def payment_counts_by_status() -> dict[str, int]:
    """How many payments are in each status: one grouped count (an index-only scan of payment_merchant_status,
    which holds every payment's status; docs/performance.md has its cost)."""
    rows = Payment.objects.order_by().values_list("status").annotate(count=Count("*"))
    return dict(rows)


def resolver_backlog(*, cutoff: datetime) -> dict[str, tuple[int, datetime | None]]:
    """What the resolver has to find out, by kind: ``(how many since before cutoff, the oldest's since)``.

    ``charge``: payments ``processing`` (the charge's outcome is unknown); ``capture_or_void``: authorised
    payments whose capture or void was sent without a known outcome. Each is a range scan of a partial index
    (payment_processing, payment_uncaptured): the rows in those states, not the history."""
    charges = Payment.objects.filter(status=PaymentStatus.PROCESSING, processing_since__lt=cutoff).aggregate(
        count=Count("pk"), oldest=Min("processing_since")
    )
    operations = Payment.objects.filter(
        status=PaymentStatus.REQUIRES_CAPTURE, processor_operation_pending_since__lt=cutoff
    ).aggregate(count=Count("pk"), oldest=Min("processor_operation_pending_since"))
    return {
        "charge": (charges["count"], charges["oldest"]),
        "capture_or_void": (operations["count"], operations["oldest"]),
    }


# --- The back office's one search box --------------------------------------------------------------------

_LAST4 = re.compile(r"\d{4}")
# A term with no letter or digit has no word to look for in descriptions.
_WORD = re.compile(r"[^\W_]+")


def payments_search(queryset: QuerySet[Payment], term: str, *, enough: int = 1000) -> QuerySet[Payment]:
    """The payments of ``queryset`` that ``term`` finds, by any of:

    - the payment id, the processor's charge id or the merchant id (exact);
    - the card's last four digits (a term of four digits);
    - the customer's email, case-insensitively, exact or a prefix of it ("alice@ex" finds alice@example.com);
    - the description's words: each word of the term begins a word of it ("blue sweat" finds "Sweater, blue");
    - a metadata value, exactly ("ORD-1234" finds ``{"order_id": "ORD-1234"}`` whatever the key).

    On PostgreSQL each kind of match is first looked up alone, through its own index and nothing else (bitmap
    scans only), for at most ``enough`` + 1 payments: a few milliseconds each at 1,000,000 payments whatever the
    term. The answer is then those payments by id, or, for a kind that found more than ``enough`` (a common
    word), that condition itself: common enough that walking the payments newest first meets 50 soon. One query
    of all the conditions OR'ed together would leave the plan to estimates, and the planner, guessing 2 % for any
    word prefix, walks the whole table re-parsing each description for a term only a hundred payments hold
    (8 s; docs/performance.md). On SQLite (``make run``) it is that one query, scanning.
    """
    term = term.strip()
    if not term:
        return queryset
    postgres = connections[queryset.db].vendor == "postgresql"
    branches = _search_branches(term, postgres)
    if not postgres:
        found = Q()
        for branch in branches:
            found |= branch
        return queryset.alias(customer_email_lower=Lower("customer_email")).filter(found)
    ids: set[str] = set()
    common = Q(pk__in=[])
    with _bitmap_scans_only(queryset.db):
        for branch in branches:
            matched = list(
                queryset.alias(customer_email_lower=Lower("customer_email"))
                .filter(branch)
                .order_by()
                .values_list("pk", flat=True)[: enough + 1]
            )
            if len(matched) > enough:
                common |= branch
            else:
                ids.update(matched)
    return queryset.alias(customer_email_lower=Lower("customer_email")).filter(Q(pk__in=ids) | common)


def _search_branches(term: str, postgres: bool) -> list[Q]:
    # Only a term that can be one of our ids is looked for as one.
    branches = [Q(processor_charge_id=term)]
    if term.startswith("pay_"):  # payments.models.new_payment_id
        branches.append(Q(pk=term))
    if term.startswith("mch_"):  # merchants.models.new_merchant_id
        branches.append(Q(merchant_id=term))
    if _LAST4.fullmatch(term):
        branches.append(Q(card_last4=term))
    # Lower() is the expression payment_customer_email_lower indexes; startswith is a LIKE 'prefix%' it answers.
    branches.append(Q(customer_email_lower__startswith=term.lower()))
    if _WORD.search(term):
        branches.append(_description_has_words(term, postgres))
    branches.append(_metadata_has_value(term, postgres))
    return branches


@contextmanager
def _bitmap_scans_only(using: str):
    """Within it, PostgreSQL reads payments through bitmap index scans only (a plan whose work is bounded by the
    matches), never by walking a whole index or the table. Set for the current transaction, then put back."""
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('enable_seqscan'), current_setting('enable_indexscan'), "
            "set_config('enable_seqscan', 'off', true), set_config('enable_indexscan', 'off', true)"
        )
        seqscan, indexscan, _, _ = cursor.fetchone()
        try:
            yield
        finally:
            cursor.execute(
                "SELECT set_config('enable_seqscan', %s, true), set_config('enable_indexscan', %s, true)",
                (seqscan, indexscan),
            )


# Constant SQL (the searched term is always a parameter) whose left sides are the expressions of migration
# 0014's indexes, spelled the same way. payment_search_words (0014) cuts the term into words as the descriptions
# are cut ("ORD-1234" is 'ord' and '-1234'), each the beginning of a word: 'sweat':* finds "sweater".
_DESCRIPTION_HAS_WORDS = (
    'to_tsvector(\'simple\'::regconfig, "payments_payment"."description") @@ payment_search_words(%s)'
)
# Any value of the flat metadata object equals the term, whatever its key.
# ``metadata <> '{}'`` is the predicate of the partial index payment_metadata_values.
_METADATA_HAS_VALUE_POSTGRES = (
    '"payments_payment"."metadata" <> \'{}\'::jsonb '
    'AND jsonb_path_query_array("payments_payment"."metadata", \'$.*\'::jsonpath) @> %s::jsonb'
)
_METADATA_HAS_VALUE_SQLITE = (
    'EXISTS (SELECT 1 FROM json_each("payments_payment"."metadata") WHERE json_each.value = %s)'
)


def _description_has_words(term: str, postgres: bool) -> Q:
    if not postgres:
        return Q(*(Q(description__icontains=word) for word in _WORD.findall(term)))
    return Q(RawSQL(_DESCRIPTION_HAS_WORDS, (term,), output_field=BooleanField()))  # noqa: S611


def _metadata_has_value(value: str, postgres: bool) -> Q:
    if postgres:
        return Q(RawSQL(_METADATA_HAS_VALUE_POSTGRES, (json.dumps([value]),), output_field=BooleanField()))  # noqa: S611
    return Q(RawSQL(_METADATA_HAS_VALUE_SQLITE, (value,), output_field=BooleanField()))  # noqa: S611
