"""The ledger's invariants, each proved by one set-based SQL query (GROUP BY / HAVING; no loop over rows).

Used by ``manage.py ledger_check`` and the ``ledger.tasks.ledger_check`` task.
Each check reports ``passed``, ``failed`` (with a count and a few offending ids)
or ``skipped`` (with the reason). An alert (``ALERTS``: something operators must see, not a broken invariant,
such as funds left pending past their ``available_on``) reports ``warning`` instead of ``failed``: the run is
still ``ok``, and says it in ``warnings``.
"""

import time
from dataclasses import asdict, dataclass, field
from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.db import connection
from django.utils import timezone

from ledger.models import (
    MERCHANT_BALANCE_CODES,
    Account,
    AccountCode,
    JournalEntry,
    MaturingFunds,
    Posting,
    SettledTransaction,
)

SAMPLE = 10
# Installed by migrations 0002, 0005 and 0008 (PostgreSQL only).
TRIGGER_NAMES = (
    "ledger_posting_append_only",
    "ledger_journalentry_guard",
    "ledger_account_guard",
    "ledger_posting_no_truncate",
    "ledger_journalentry_no_truncate",
    "ledger_account_no_truncate",
    "ledger_settledtransaction_append_only",
    "ledger_settledtransaction_no_truncate",
)


class Skip(Exception):
    """A check that cannot run here; its message says why."""


@dataclass
class CheckResult:
    name: str
    description: str
    status: str  # passed | failed | skipped | warning (an alert's offending rows)
    failures: int = 0
    sample: list = field(default_factory=list)
    detail: str = ""
    seconds: float = 0.0


@dataclass
class CheckReport:
    results: list[CheckResult]

    @property
    def ok(self) -> bool:
        return all(result.status != "failed" for result in self.results)

    @property
    def warnings(self) -> list[str]:
        return [result.name for result in self.results if result.status == "warning"]

    def as_dict(self) -> dict:
        return {"ok": self.ok, "warnings": self.warnings, "checks": [asdict(result) for result in self.results]}


def _tables() -> dict[str, str]:
    quote = connection.ops.quote_name
    return {
        "posting": quote(Posting._meta.db_table),
        "entry": quote(JournalEntry._meta.db_table),
        "account": quote(Account._meta.db_table),
        "maturing": quote(MaturingFunds._meta.db_table),
        "settled": quote(SettledTransaction._meta.db_table),
    }


def _run(sql: str, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _count_and_sample(inner_sql: str, params=()) -> tuple[int, list]:
    """``inner_sql`` selects offending rows; count them all but fetch only the first few."""
    rows = _run(
        f"SELECT offending.*, COUNT(*) OVER () FROM ({inner_sql}) AS offending LIMIT {SAMPLE}",  # noqa: S608
        params,
    )
    if not rows:
        return 0, []
    return rows[0][-1], [list(row[:-1]) if len(row) > 2 else row[0] for row in rows]


def check_entries_balance() -> tuple[int, list, str]:
    """Every entry's postings sum to zero per currency and per phase."""
    t = _tables()
    count, sample = _count_and_sample(
        f"SELECT p.entry_id, a.currency, p.phase, SUM(p.amount) FROM {t['posting']} p "  # noqa: S608
        f"JOIN {t['account']} a ON a.id = p.account_id "
        "GROUP BY p.entry_id, a.currency, p.phase HAVING SUM(p.amount) <> 0"
    )
    return count, sample, ""


def check_totals_zero() -> tuple[int, list, str]:
    """The sum of every account's balance is zero per currency (and per phase)."""
    t = _tables()
    count, sample = _count_and_sample(
        f"SELECT a.currency, p.phase, SUM(p.amount) FROM {t['posting']} p "  # noqa: S608
        f"JOIN {t['account']} a ON a.id = p.account_id "
        "GROUP BY a.currency, p.phase HAVING SUM(p.amount) <> 0"
    )
    return count, sample, ""


def check_balance_limits() -> tuple[int, list, str]:
    """No account breaks its balance limit (TigerBeetle's debits/credits_must_not_exceed flags)."""
    t = _tables()
    # Pending-phase postings count while their entry is still pending; once resolved,
    # the resolving entry's reversal cancels them.
    count, sample = _count_and_sample(
        "SELECT account_id, posted_debits, posted_credits, pending_debits, pending_credits FROM ("  # noqa: S608
        "SELECT a.id AS account_id, a.debits_must_not_exceed_credits AS dmnec, "
        "a.credits_must_not_exceed_debits AS cmned, "
        "COALESCE(SUM(CASE WHEN p.phase = 'posted' AND p.amount > 0 THEN p.amount END), 0) AS posted_debits, "
        "COALESCE(SUM(CASE WHEN p.phase = 'posted' AND p.amount < 0 THEN -p.amount END), 0) AS posted_credits, "
        "COALESCE(SUM(CASE WHEN p.phase = 'pending' AND e.status = 'pending' AND p.amount > 0 "
        "THEN p.amount END), 0) AS pending_debits, "
        "COALESCE(SUM(CASE WHEN p.phase = 'pending' AND e.status = 'pending' AND p.amount < 0 "
        "THEN -p.amount END), 0) AS pending_credits "
        f"FROM {t['account']} a JOIN {t['posting']} p ON p.account_id = a.id "
        f"JOIN {t['entry']} e ON e.id = p.entry_id "
        "WHERE a.debits_must_not_exceed_credits OR a.credits_must_not_exceed_debits "
        "GROUP BY a.id, a.debits_must_not_exceed_credits, a.credits_must_not_exceed_debits"
        ") AS totals WHERE (dmnec AND pending_debits + posted_debits > posted_credits) "
        "OR (cmned AND pending_credits + posted_credits > posted_debits)"
    )
    return count, sample, ""


def check_pending_resolved_once() -> tuple[int, list, str]:
    """Every pending entry is resolved at most once, consistently, and its reservation exactly reversed.

    Offending rows, by kind:
    - ``resolved_twice``: more than one entry resolves it;
    - ``resolver_of_non_pending``: a resolving entry points at an entry that never reserved anything,
      or at another resolving entry;
    - ``status_mismatch``: the pending entry's status is not the status of the entry that resolved it,
      or it is still ``pending`` although resolved, or ``posted``/``voided`` with no resolver;
    - ``not_reversed``: the resolver does not reverse the reservation exactly (per account);
    - ``pending_has_posted``: a pending entry carries posted-phase postings.
    """
    t = _tables()
    # A reserving entry: not itself a resolution, and it has pending-phase postings.
    reserves = (
        f"(e.pending_entry_id IS NULL AND EXISTS (SELECT 1 FROM {t['posting']} rp "  # noqa: S608
        "WHERE rp.entry_id = e.id AND rp.phase = 'pending'))"
    )
    sql = (
        # Resolved more than once (the unique pending_entry makes this impossible; prove it anyway).
        f"SELECT 'resolved_twice', pending_entry_id FROM {t['entry']} "  # noqa: S608
        "WHERE pending_entry_id IS NOT NULL GROUP BY pending_entry_id HAVING COUNT(*) > 1 "
        # A resolver of something that was not a reservation.
        f"UNION ALL SELECT 'resolver_of_non_pending', r.id FROM {t['entry']} r "
        f"JOIN {t['entry']} e ON e.id = r.pending_entry_id WHERE NOT {reserves} "
        # Status of each reserving entry against its resolver (or the lack of one).
        f"UNION ALL SELECT 'status_mismatch', e.id FROM {t['entry']} e "
        f"LEFT JOIN {t['entry']} r ON r.pending_entry_id = e.id "
        f"WHERE {reserves} AND ("
        "(r.id IS NULL AND e.status <> 'pending') OR (r.id IS NOT NULL AND e.status <> r.status)) "
        # Pending-phase postings of a resolved reservation and its resolver cancel per account.
        f"UNION ALL SELECT 'not_reversed', COALESCE(e.pending_entry_id, e.id) FROM {t['posting']} p "
        f"JOIN {t['entry']} e ON e.id = p.entry_id "
        "WHERE p.phase = 'pending' AND e.status <> 'pending' "
        "GROUP BY COALESCE(e.pending_entry_id, e.id), p.account_id HAVING SUM(p.amount) <> 0 "
        # A pending entry holds reservations only.
        f"UNION ALL SELECT 'pending_has_posted', e.id FROM {t['entry']} e JOIN {t['posting']} p ON p.entry_id = e.id "
        "WHERE e.status = 'pending' AND p.phase = 'posted' GROUP BY e.id"
    )
    count, sample = _count_and_sample(sql)
    return count, sample, ""


def check_payments_captured_once() -> tuple[int, list, str]:
    """Every succeeded payment's captured amount is posted exactly once, and no other payment has a charge.

    Compares ``payments.Payment`` (``status``, ``amount_captured``, ``currency``,
    ``merchant_id``) with the ``charge`` entries whose source is the payment:
    exactly one, for the payment's merchant and currency, debiting
    processor_receivable by ``amount_captured`` in the posted phase.
    """
    try:
        payment_model = apps.get_model("payments", "Payment")
    except LookupError:
        raise Skip("the payments.Payment model does not exist yet") from None
    meta = payment_model._meta
    try:
        column = {name: meta.get_field(name).column for name in ("status", "amount_captured", "currency")}
        column["merchant"] = meta.get_field("merchant").column
    except Exception as error:  # noqa: BLE001 - a payments model of another shape is reported, not crashed on
        raise Skip(f"payments.Payment lacks a field this check reads: {error}") from None
    if meta.db_table not in connection.introspection.table_names():
        raise Skip(f"the table {meta.db_table} does not exist (migrate payments)")
    quote = connection.ops.quote_name
    t = _tables()
    pay = quote(meta.db_table)
    pk = quote(meta.pk.column)
    status, captured, currency, merchant = (
        quote(column[name]) for name in ("status", "amount_captured", "currency", "merchant")
    )
    charges = (
        "SELECT e.source, COUNT(DISTINCT e.id) AS entries, MIN(e.merchant_id) AS merchant_id, "  # noqa: S608
        "MAX(e.merchant_id) AS merchant_id_max, MIN(e.currency) AS currency, MAX(e.currency) AS currency_max, "
        "COALESCE(SUM(CASE WHEN p.phase = 'posted' AND a.code = %s THEN p.amount END), 0) AS captured "
        f"FROM {t['entry']} e JOIN {t['posting']} p ON p.entry_id = e.id "
        f"JOIN {t['account']} a ON a.id = p.account_id "
        "WHERE e.type = %s GROUP BY e.source"
    )
    sql = (
        f"SELECT pay.{pk}, pay.{status}, pay.{captured}, c.entries, c.captured FROM {pay} pay "  # noqa: S608
        f"LEFT JOIN ({charges}) c ON c.source = pay.{pk} "
        f"WHERE (pay.{status} = 'succeeded' AND (c.entries IS NULL OR c.entries <> 1 "
        f"OR c.captured <> pay.{captured} OR c.merchant_id <> pay.{merchant} "
        f"OR c.merchant_id_max <> pay.{merchant} OR c.currency <> pay.{currency} "
        f"OR c.currency_max <> pay.{currency})) "
        f"OR (pay.{status} <> 'succeeded' AND c.entries IS NOT NULL)"
    )
    count, sample = _count_and_sample(sql, [AccountCode.PROCESSOR_RECEIVABLE, JournalEntry.Type.CHARGE])
    return count, sample, ""


def check_funds_mature() -> tuple[int, list, str]:
    """Pending funds are exactly the unmatured captures, each matured once and never before its available_on.

    Offending rows, by kind:
    - ``pending_mismatch`` (an account): a merchant_pending account's posted balance is not the sum of the
      pending credits of its captures (``charge`` entries) that have no ``funds.matured`` entry, per merchant
      and currency;
    - ``foreign_posting`` (an entry): something other than a capture's credit or a maturing entry's debit
      touches merchant_pending in the posted phase;
    - ``matured_twice`` (a source): more than one maturing entry for one payment's capture;
    - ``maturing_without_source`` (an entry): a maturing entry whose key names no capture with pending funds;
    - ``matured_early`` (an entry): a maturing entry created before its capture's ``available_on``;
    - ``unscheduled`` (an entry): a capture with unmatured pending funds missing from the maturing work list
      (it would never mature).
    """
    t = _tables()
    pending = AccountCode.MERCHANT_PENDING
    # The capture an entry ``m`` matures: the one its event key names. Written both ways round so that each
    # side is an index look-up: the unique event key from a capture, the primary key from a maturing entry.
    prefix = "funds.matured:"
    unmatured = f"NOT EXISTS (SELECT 1 FROM {t['entry']} m WHERE m.event_key = '{prefix}' || s.id)"  # noqa: S608
    names_source = f"s.id = SUBSTR(m.event_key, {len(prefix) + 1}) AND m.event_key LIKE '{prefix}%%'"
    sql = (
        # Per merchant_pending account: what it holds against what its unmatured captures credited.
        "SELECT 'pending_mismatch', a.id FROM "  # noqa: S608
        f"{t['account']} a JOIN (SELECT p.account_id, SUM(p.amount) AS total FROM {t['posting']} p "
        f"WHERE p.phase = 'posted' AND p.account_id IN (SELECT id FROM {t['account']} WHERE code = %s) "
        "GROUP BY p.account_id) held ON held.account_id = a.id "
        f"LEFT JOIN (SELECT p.account_id, SUM(p.amount) AS total FROM {t['posting']} p "
        f"JOIN {t['entry']} s ON s.id = p.entry_id "
        f"WHERE p.account_id IN (SELECT id FROM {t['account']} WHERE code = %s) "
        f"AND p.phase = 'posted' AND p.amount < 0 AND s.type = 'charge' AND {unmatured} "
        "GROUP BY p.account_id) owed ON owed.account_id = a.id "
        "WHERE a.code = %s AND held.total <> COALESCE(owed.total, 0) "
        # Only a capture credits, and only a maturing entry debits, merchant_pending in the posted phase.
        f"UNION ALL SELECT 'foreign_posting', e.id FROM {t['posting']} p JOIN {t['entry']} e ON e.id = p.entry_id "
        f"WHERE p.account_id IN (SELECT id FROM {t['account']} WHERE code = %s) AND p.phase = 'posted' "
        "AND NOT ((e.type = 'charge' AND p.amount < 0) OR (e.type = 'funds_matured' AND p.amount > 0)) "
        "GROUP BY e.id "
        # One maturing entry per capture (a payment has one capture entry).
        f"UNION ALL SELECT 'matured_twice', m.source FROM {t['entry']} m WHERE m.type = 'funds_matured' "
        "GROUP BY m.source HAVING COUNT(*) > 1 "
        # Each maturing entry names a capture that credited merchant_pending.
        f"UNION ALL SELECT 'maturing_without_source', m.id FROM {t['entry']} m "
        f"WHERE m.type = 'funds_matured' AND NOT EXISTS (SELECT 1 FROM {t['entry']} s "
        f"JOIN {t['posting']} p ON p.entry_id = s.id JOIN {t['account']} a ON a.id = p.account_id "
        f"WHERE {names_source} AND s.type = 'charge' AND a.code = %s AND p.phase = 'posted' AND p.amount < 0) "
        # Never before the capture's available_on.
        f"UNION ALL SELECT 'matured_early', m.id FROM {t['entry']} m JOIN {t['entry']} s ON {names_source} "
        "WHERE m.type = 'funds_matured' AND (s.available_on IS NULL OR m.created < s.available_on) "
        # Every unmatured capture with pending funds is on the work list.
        f"UNION ALL SELECT 'unscheduled', s.id FROM {t['posting']} p JOIN {t['entry']} s ON s.id = p.entry_id "
        f"WHERE p.account_id IN (SELECT id FROM {t['account']} WHERE code = %s) "
        f"AND s.type = 'charge' AND p.phase = 'posted' AND p.amount < 0 AND {unmatured} "
        f"AND NOT EXISTS (SELECT 1 FROM {t['maturing']} w WHERE w.entry_id = s.id) GROUP BY s.id"
    )
    count, sample = _count_and_sample(sql, [pending] * 6)
    return count, sample, ""


def check_funds_mature_on_time() -> tuple[int, list, str]:
    """No pending funds are left unmatured more than LEDGER_MATURING_OVERDUE_SECONDS past their available_on.

    An alert, not an invariant (``ALERTS``): the money is still right, but ``ledger.tasks.mature_funds`` (beat,
    every minute) is not running or not keeping up, and merchants' funds stay pending. Offending rows: the
    maturing work list's entries (``MaturingFunds``) and their ``available_on``, oldest first; the detail says
    how late the oldest is.
    """
    t = _tables()
    cutoff = timezone.now() - timedelta(seconds=settings.LEDGER_MATURING_OVERDUE_SECONDS)
    count, sample = _count_and_sample(
        f"SELECT w.entry_id, w.available_on FROM {t['maturing']} w "  # noqa: S608
        "WHERE w.available_on < %s ORDER BY w.available_on",
        [cutoff],
    )
    detail = ""
    if count:
        oldest = sample[0][1]
        late = int((timezone.now() - oldest).total_seconds())
        detail = (
            f"{count} capture(s) still pending past their available_on, the oldest by {late} s: is the "
            "ledger.tasks.mature_funds beat running?"
        )
    return count, sample, detail


def _payouts_table() -> tuple[str, str, str, str, str]:
    """The quoted names of ``payouts.Payout``'s table and of its merchant, currency, amount and status columns.
    The ledger sits below the payouts app, so it reads the table by name; Skip while it does not exist."""
    try:
        payout_model = apps.get_model("payouts", "Payout")
    except LookupError:
        raise Skip("the payouts.Payout model does not exist yet") from None
    meta = payout_model._meta
    if meta.db_table not in connection.introspection.table_names():
        raise Skip(f"the table {meta.db_table} does not exist (migrate payouts)")
    quote = connection.ops.quote_name
    columns = (quote(meta.get_field(name).column) for name in ("merchant", "currency", "amount", "status"))
    return (quote(meta.db_table), *columns)


def check_payouts_in_transit() -> tuple[int, list, str]:
    """Per merchant and currency, merchant_payouts_in_transit holds exactly the payouts not yet paid, failed or
    canceled (``pending`` and ``in_transit``).

    Compares the account's posted balance (credit-normal: minus the signed sum) with the sum of the amounts of
    ``payouts.Payout`` in those statuses; a merchant and currency with either and not the other is compared
    with 0.
    """
    t = _tables()
    payouts, merchant, currency, amount, status = _payouts_table()
    sql = (
        "SELECT COALESCE(l.merchant_id, o.merchant_id), COALESCE(l.currency, o.currency), "  # noqa: S608
        "COALESCE(l.held, 0), COALESCE(o.owed, 0) FROM ("
        "SELECT a.merchant_id, a.currency, -SUM(p.amount) AS held "
        f"FROM {t['account']} a JOIN {t['posting']} p ON p.account_id = a.id "
        "WHERE a.code = %s AND p.phase = 'posted' GROUP BY a.merchant_id, a.currency) l "
        f"FULL OUTER JOIN (SELECT {merchant} AS merchant_id, {currency} AS currency, SUM({amount}) AS owed "
        f"FROM {payouts} WHERE {status} IN ('pending', 'in_transit') GROUP BY {merchant}, {currency}) o "
        "ON o.merchant_id = l.merchant_id AND o.currency = l.currency "
        "WHERE COALESCE(l.held, 0) <> COALESCE(o.owed, 0)"
    )
    count, sample = _count_and_sample(sql, [AccountCode.MERCHANT_PAYOUTS_IN_TRANSIT])
    return count, sample, ""


def check_payouts_settle() -> tuple[int, list, str]:
    """Each automatic payout paid out exactly its amount: the nets of what it settled sum to it.

    Offending rows, by kind:
    - ``unbalanced`` (a payout's entry): the posted postings on merchant_available and merchant_pending of the
      entries it settled, its own included, do not sum to zero (what it paid out is not what it took);
    - ``not_a_payout`` (an entry): something settles transactions without being a payout's creation entry that
      settles itself;
    - ``other_merchant`` (an entry): a settled transaction of another merchant than the payout's;
    - ``paid_out_pending`` (an entry): a capture settled before its funds matured.
    """
    t = _tables()
    codes = ", ".join(["%s"] * len(MERCHANT_BALANCE_CODES))
    pending = AccountCode.MERCHANT_PENDING
    sql = (
        f"SELECT 'unbalanced', g.payout_entry_id FROM {t['settled']} g "  # noqa: S608
        f"JOIN {t['posting']} p ON p.entry_id = g.entry_id JOIN {t['account']} a ON a.id = p.account_id "
        f"WHERE p.phase = 'posted' AND a.code IN ({codes}) GROUP BY g.payout_entry_id HAVING SUM(p.amount) <> 0 "
        f"UNION ALL SELECT 'not_a_payout', g.payout_entry_id FROM {t['settled']} g "
        f"JOIN {t['entry']} e ON e.id = g.payout_entry_id WHERE e.type <> 'payout' OR NOT EXISTS "
        f"(SELECT 1 FROM {t['settled']} own WHERE own.entry_id = g.payout_entry_id "
        "AND own.payout_entry_id = g.payout_entry_id) GROUP BY g.payout_entry_id "
        f"UNION ALL SELECT 'other_merchant', g.entry_id FROM {t['settled']} g "
        f"JOIN {t['entry']} s ON s.id = g.entry_id JOIN {t['entry']} e ON e.id = g.payout_entry_id "
        "WHERE COALESCE(s.merchant_id, '') <> COALESCE(e.merchant_id, '') "
        # A capture's funds are paid out only once matured, and so before the payout was created.
        f"UNION ALL SELECT 'paid_out_pending', g.entry_id FROM {t['settled']} g "
        f"JOIN {t['entry']} e ON e.id = g.payout_entry_id WHERE EXISTS (SELECT 1 FROM {t['posting']} p "
        f"JOIN {t['account']} a ON a.id = p.account_id WHERE p.entry_id = g.entry_id AND p.phase = 'posted' "
        f"AND a.code = %s) AND NOT EXISTS (SELECT 1 FROM {t['entry']} m "
        "WHERE m.event_key = 'funds.matured:' || g.entry_id AND m.created <= e.created)"
    )
    count, sample = _count_and_sample(sql, [*MERCHANT_BALANCE_CODES, pending])
    return count, sample, ""


# The entry types that may move a merchant's money (merchant_available, merchant_pending,
# merchant_payouts_in_transit) in the posted phase, each for a reason the posting rules document.
EARNING_TYPES = ("charge", "refund", "refund_failure", "dispute", "dispute_reversal", "payment_return", "adjustment")
PAYOUT_TYPES = ("payout", "payout_failure", "payout_cancel")


def check_merchant_funds_explained() -> tuple[int, list, str]:
    """Per merchant and currency, what was paid out plus what is pending, available and in transit equals what
    was captured less fees, refunds, disputes and returns, plus adjustments.

    The left side's "paid out" comes from the payouts themselves (``payouts.Payout`` rows ``paid``), not from
    the ledger; the rest from the merchant's posted balances. The right side from the ledger entries by type.
    Since every entry balances, they agree exactly when the payout entries moved the merchant's money by what
    the paid payouts amount to, and nothing else moved it. Offending rows, by kind:
    - ``paid_out_mismatch`` (merchant, currency, paid out by the ledger, paid out by the payouts): the ledger's
      payout entries took from the merchant a different amount than the paid payouts;
    - ``unexplained`` (an entry): an entry of another type moved a merchant's money in the posted phase.
    """
    t = _tables()
    payouts, merchant, currency, amount, status = _payouts_table()
    codes = [AccountCode.MERCHANT_AVAILABLE, AccountCode.MERCHANT_PENDING, AccountCode.MERCHANT_PAYOUTS_IN_TRANSIT]
    listed = ", ".join(["%s"] * len(codes))
    payout_types = ", ".join(["%s"] * len(PAYOUT_TYPES))
    known_types = ", ".join(["%s"] * (len(EARNING_TYPES) + len(PAYOUT_TYPES) + 1))
    sql = (
        "SELECT 'paid_out_mismatch', COALESCE(l.merchant_id, o.merchant_id), "  # noqa: S608
        "COALESCE(l.currency, o.currency), CAST(COALESCE(l.paid, 0) AS BIGINT), "
        "CAST(COALESCE(o.paid, 0) AS BIGINT) FROM ("
        # What the payout entries took from the merchant's money, in total (creation, failure and cancel move
        # it between the merchant's own accounts; only "paid" takes it away).
        "SELECT a.merchant_id, a.currency, SUM(p.amount) AS paid "
        f"FROM {t['posting']} p JOIN {t['account']} a ON a.id = p.account_id "
        f"JOIN {t['entry']} e ON e.id = p.entry_id WHERE p.phase = 'posted' AND a.code IN ({listed}) "
        f"AND e.type IN ({payout_types}) GROUP BY a.merchant_id, a.currency) l "
        f"FULL OUTER JOIN (SELECT {merchant} AS merchant_id, {currency} AS currency, SUM({amount}) AS paid "
        f"FROM {payouts} WHERE {status} = 'paid' GROUP BY {merchant}, {currency}) o "
        "ON o.merchant_id = l.merchant_id AND o.currency = l.currency "
        "WHERE COALESCE(l.paid, 0) <> COALESCE(o.paid, 0) "
        "UNION ALL SELECT 'unexplained', e.id, a.currency, 0, 0 "
        f"FROM {t['posting']} p JOIN {t['account']} a ON a.id = p.account_id "
        f"JOIN {t['entry']} e ON e.id = p.entry_id WHERE p.phase = 'posted' AND a.code IN ({listed}) "
        f"AND e.type NOT IN ({known_types}) GROUP BY e.id, a.currency"
    )
    params = [*codes, *PAYOUT_TYPES, *codes, *EARNING_TYPES, *PAYOUT_TYPES, "funds_matured"]
    count, sample = _count_and_sample(sql, params)
    return count, sample, ""


def check_immutability_triggers() -> tuple[int, list, str]:
    """On PostgreSQL, the triggers that refuse UPDATE, DELETE and TRUNCATE of the ledger are installed and enabled."""
    if connection.vendor != "postgresql":
        raise Skip("PostgreSQL only")
    expected = list(TRIGGER_NAMES)
    rows = _run(
        "SELECT tgname FROM pg_trigger WHERE tgname = ANY(%s) AND tgenabled <> 'D' AND NOT tgisinternal", [expected]
    )
    missing = sorted(set(expected) - {row[0] for row in rows})
    return len(missing), missing, ""


CHECKS = [
    ("entries_balance", check_entries_balance),
    ("totals_zero", check_totals_zero),
    ("balance_limits", check_balance_limits),
    ("pending_resolved_once", check_pending_resolved_once),
    ("payments_captured_once", check_payments_captured_once),
    ("funds_mature", check_funds_mature),
    ("funds_mature_on_time", check_funds_mature_on_time),
    ("payouts_in_transit", check_payouts_in_transit),
    ("payouts_settle", check_payouts_settle),
    ("merchant_funds_explained", check_merchant_funds_explained),
    ("immutability_triggers", check_immutability_triggers),
]
# Checks whose offending rows are reported as a ``warning``: operators must see them, but the ledger is right.
ALERTS = frozenset({"funds_mature_on_time"})


def run_checks() -> CheckReport:
    """Run every check; a check's own failure (an SQL error) is not swallowed."""
    results = []
    for name, check in CHECKS:
        description = (check.__doc__ or "").strip().splitlines()[0]
        started = time.perf_counter()
        try:
            failures, sample, detail = check()
        except Skip as skip:
            results.append(CheckResult(name, description, "skipped", detail=str(skip)))
            continue
        seconds = round(time.perf_counter() - started, 3)
        status = ("warning" if name in ALERTS else "failed") if failures else "passed"
        results.append(CheckResult(name, description, status, failures, _jsonable(sample), detail, seconds))
    results.append(
        CheckResult(
            "cached_balances",
            "Cached balances equal derived balances.",
            "skipped",
            detail="balances are never cached: every balance is a sum over postings",
        )
    )
    return CheckReport(results)


def _jsonable(value):
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, int | str | float | bool) or value is None:
        return value
    return str(value)
