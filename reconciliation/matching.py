"""The set-based engine of a run: staging, matching and writing exceptions, in SQL that works on both databases.

Called only by ``reconciliation.services`` inside the transaction of a run (each
function refuses to run outside one). No statement here loops over lines: the
report goes into ``reconciliation_settlementline`` by ``COPY`` (PostgreSQL) or
batched inserts (SQLite), the ledger's side of the day goes into a temporary
table with one ``INSERT … SELECT``, and the differences come out of joins: a
hash full join of the two sides on PostgreSQL (a left join and an anti-join on
SQLite), and ``GROUP BY … HAVING COUNT(*) > 1`` over the keys the reader saw
twice. Only the differences are written (to a temporary findings table, then
to the exceptions); matched lines are counted, never copied.

The rules themselves are documented in ``docs/reconciliation.md``.
"""

# The SQL below is assembled from constant fragments and model table names only; every value is a bound parameter.
# ruff: noqa: S608

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.transaction import TransactionManagementError

from core.db import in_transaction
from ledger.models import Account, AccountCode, JournalEntry, Posting
from payments.models import Dispute, Payment, Refund
from payouts.models import Payout
from reconciliation.models import (
    ABOUT_A_PAYMENT,
    LEDGER_ENTRY_TYPE,
    MATCHED_BY_PROCESSOR_ID,
    ExceptionType,
    ReconciliationException,
    SettlementLine,
)
from reconciliation.report import STAGING_COLUMNS, Row

T = ExceptionType
INTERNAL = "recon_internal"
LINE_KEYS = "recon_line_keys"
SUSPECTS = "recon_suspects"
DUPLICATES = "recon_duplicates"
FINDINGS = "recon_findings"


def _require_transaction() -> None:
    if not in_transaction():
        raise TransactionManagementError("reconciliation writes inside the run's transaction (services owns it)")


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _tables() -> dict[str, str]:
    return {
        "line": _quote(SettlementLine._meta.db_table),
        "exc": _quote(ReconciliationException._meta.db_table),
        "entry": _quote(JournalEntry._meta.db_table),
        "posting": _quote(Posting._meta.db_table),
        "account": _quote(Account._meta.db_table),
        "payment": _quote(Payment._meta.db_table),
        "refund": _quote(Refund._meta.db_table),
        "dispute": _quote(Dispute._meta.db_table),
        "payout": _quote(Payout._meta.db_table),
        "internal": INTERNAL,
        "suspects": SUSPECTS,
        # The lines looked up by (type, match key): PostgreSQL hashes the table; SQLite gets an indexed copy.
        "line_keys": _quote(SettlementLine._meta.db_table) if _postgres() else LINE_KEYS,
        "dups": DUPLICATES,
        "findings": FINDINGS,
        "by_pid": ", ".join(f"'{t}'" for t in MATCHED_BY_PROCESSOR_ID),
        "entry_types": ", ".join(f"'{t}'" for t in LEDGER_ENTRY_TYPE.values()),
        "entry_line_type": "CASE e.type "
        + " ".join(f"WHEN '{entry}' THEN '{line}'" for line, entry in LEDGER_ENTRY_TYPE.items() if entry != line)
        + " ELSE e.type END",
        "about_payment": ", ".join(f"'{t}'" for t in ABOUT_A_PAYMENT),
    }


def _execute(sql: str, params=None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql.format(**_tables()), params)
        return cursor.rowcount


def _fetch(sql: str, params=None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql.format(**_tables()), params)
        return cursor.fetchall()


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _json_object(*pairs: tuple[str, str]) -> str:
    function = "jsonb_build_object" if _postgres() else "json_object"
    arguments = ", ".join(f"'{key}', {expr}" for key, expr in pairs)
    return f"{function}({arguments})"


def _json_text(expr: str) -> str:
    """A column holding JSON text, as a JSON value inside a JSON object."""
    return f"CAST({expr} AS jsonb)" if _postgres() else f"json({expr})"


def _line_list(expr: str) -> str:
    """The JSON text of an array of the group's line numbers, in order."""
    if _postgres():
        return f"'[' || string_agg(CAST({expr} AS text), ',' ORDER BY {expr}) || ']'"
    return f"'[' || group_concat({expr}, ',') || ']'"


def tune_transaction() -> None:
    """PostgreSQL: room for the run's hashes and sorts in memory, for this transaction only.

    A day is a few hash joins and one aggregate over every line and ledger
    event; with the default 4 MB each spills to disk. ``RECONCILIATION_WORK_MEM``
    (default 256MB) sets ``work_mem`` for the run's transaction (``set_config``
    with is_local, so nothing outlives it).
    """
    _require_transaction()
    if _postgres():
        work_mem = str(settings.RECONCILIATION_WORK_MEM)
        _execute("SELECT set_config('work_mem', %s, true)", [work_mem])


def _adapt_datetime(value: datetime.datetime):
    return connection.ops.adapt_datetimefield_value(value)


# --- The report: the external staging table ---------------------------------------------------------------


def lines_replace(*, run_id: int, batches: Iterable[list[Row]]) -> int:
    """Delete the run's previous lines and load the new ones; returns how many were loaded.

    PostgreSQL: ``COPY … FROM STDIN`` through psycopg's ``cursor.copy()`` on the
    raw connection, which is in the run's transaction. SQLite: ``executemany``
    per batch. A ``ReportInvalid`` (or the adapter's ``SettlementReportInvalid``)
    raised by ``batches`` mid-way propagates: the caller's transaction rolls back
    everything loaded so far.
    """
    _require_transaction()
    _execute("DELETE FROM {line} WHERE run_id = %s", [run_id])
    columns = ", ".join(("run_id",) + STAGING_COLUMNS)
    table = _tables()["line"]
    count = 0
    if _postgres():
        connection.ensure_connection()
        with connection.connection.cursor() as cursor:
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                write = copy.write_row
                for batch in batches:
                    for row in batch:
                        write((run_id, *row))
                    count += len(batch)
        return count
    placeholders = ", ".join(["%s"] * (len(STAGING_COLUMNS) + 1))
    with connection.cursor() as cursor:
        for batch in batches:
            cursor.executemany(
                f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", [(run_id, *row) for row in batch]
            )
            count += len(batch)
    return count


# --- Our side: the internal staging table -----------------------------------------------------------------


def _create_temporary_tables() -> None:
    for name in (INTERNAL, SUSPECTS, DUPLICATES, FINDINGS):
        _execute(f"DROP TABLE IF EXISTS {name}")
    _execute(
        "CREATE TEMPORARY TABLE {internal} (type varchar(32) NOT NULL, match_key varchar(255) NOT NULL, "
        "merchant_id varchar(40), currency varchar(3) NOT NULL, amount bigint NOT NULL, entry_id varchar(40) NOT NULL, "
        "source varchar(40) NOT NULL)"
    )
    _execute("CREATE TEMPORARY TABLE {suspects} (type varchar(32) NOT NULL, match_key varchar(255) NOT NULL)")
    _execute(
        "CREATE TEMPORARY TABLE {dups} (type varchar(32) NOT NULL, match_key varchar(255) NOT NULL, "
        "line_count integer NOT NULL, lines text NOT NULL, currency varchar(3), amount bigint, fee bigint, "
        "expected_fee bigint, reference varchar(255), processor_id varchar(255))"
    )
    _execute(
        "CREATE TEMPORARY TABLE {findings} (kind varchar(32) NOT NULL, line_type varchar(32) NOT NULL, "
        "match_key varchar(255) NOT NULL, merchant_id varchar(40), reference varchar(255), processor_id varchar(255), "
        "currency varchar(3), internal_amount bigint, external_amount bigint, expected_fee bigint, "
        "external_fee bigint, lines text NOT NULL, ledger_entry varchar(40), object_status varchar(32), "
        "internal_currency varchar(3), line_count integer NOT NULL)"
    )


def internal_build(
    *, processor: str, settlement_date: datetime.date, start: datetime.datetime, cutoff: datetime.datetime
) -> int:
    """Stage what our ledger says moved through ``processor`` on the day: one row per (type, match key).

    Only entries about payments that processor holds count (a refund's or dispute's payment's processor), and
    payouts sent through it: each acquirer's report is reconciled against its own share of the ledger.

    Posted entries of type charge/refund/dispute/dispute_reversal/payment_return/payout created in
    [start, cutoff), amount = their posted postings on the platform's
    processor_receivable, in that account's currency (the presentment currency
    the processor reports, also when the merchant is paid out in another). Of a
    payout's entries only ``payout.paid`` touches the receivable (the money left
    the processor's balance), so a paid payout is one row; the others drop out
    with the join on the receivable's postings. An
    entry that an automatic resolution linked to an exception counts on that
    exception's settlement date instead of the day it was posted (a lost answer
    settled by the report of the day before).
    """
    _require_transaction()
    params = {
        "start": _adapt_datetime(start),
        "cutoff": _adapt_datetime(cutoff),
        "day": connection.ops.adapt_datefield_value(settlement_date),
        "posted": JournalEntry.Status.POSTED,
        "auto": ReconciliationException.Resolution.AUTO_RESOLVED,
        "receivable": AccountCode.PROCESSOR_RECEIVABLE,
        "phase": Posting.Phase.POSTED,
        "processor": processor,
    }
    return _execute(
        "INSERT INTO {internal} (type, match_key, merchant_id, currency, amount, entry_id, source) "
        "SELECT {entry_line_type}, CASE WHEN e.type IN ({by_pid}) THEN COALESCE(d.processor_dispute_id, e.source) "
        "ELSE e.source END, MIN(e.merchant_id), MIN(a.currency), SUM(p.amount), MIN(e.id), MIN(e.source) "
        "FROM ("
        "  SELECT je.id, je.type, je.source, je.merchant_id, je.currency FROM {entry} je "
        "  WHERE je.created >= %(start)s AND je.created < %(cutoff)s AND je.status = %(posted)s "
        "  AND je.type IN ({entry_types}) "
        "  AND NOT EXISTS (SELECT 1 FROM {exc} x WHERE x.ledger_entry_id = je.id AND x.resolution = %(auto)s "
        "                  AND x.settlement_date <> %(day)s) "
        "  UNION ALL "
        "  SELECT je.id, je.type, je.source, je.merchant_id, je.currency FROM {exc} x "
        "  JOIN {entry} je ON je.id = x.ledger_entry_id "
        "  WHERE x.processor = %(processor)s AND x.settlement_date = %(day)s AND x.resolution = %(auto)s "
        "  AND je.status = %(posted)s "
        "  AND je.type IN ({entry_types}) AND NOT (je.created >= %(start)s AND je.created < %(cutoff)s)"
        ") e "
        "JOIN {posting} p ON p.entry_id = e.id AND p.phase = %(phase)s "
        "JOIN {account} a ON a.id = p.account_id AND a.code = %(receivable)s AND a.merchant_id IS NULL "
        "LEFT JOIN {dispute} d ON e.type IN ({by_pid}) AND d.id = e.source "
        "WHERE CASE WHEN e.type = 'refund' "
        "  THEN (SELECT pp.processor FROM {refund} r JOIN {payment} pp ON pp.id = r.payment_id WHERE r.id = e.source) "
        "  WHEN e.type IN ({by_pid}) "
        "  THEN (SELECT pp.processor FROM {payment} pp WHERE pp.id = d.payment_id) "
        "  WHEN e.type = 'payout' THEN (SELECT po.processor FROM {payout} po WHERE po.id = e.source) "
        "  ELSE (SELECT pp.processor FROM {payment} pp WHERE pp.id = e.source) END = %(processor)s "
        "GROUP BY 1, 2",
        params,
    )


# --- Matching ------------------------------------------------------------------------------------------------

_FINDING_COLUMNS = (
    "kind, line_type, match_key, merchant_id, reference, processor_id, currency, internal_amount, external_amount, "
    "expected_fee, external_fee, lines, ledger_entry, object_status, internal_currency, line_count"
)
# Our payment, refund or dispute that a finding is about, looked up for the findings only (a few rows, by key).
_PAYMENT = (
    "(SELECT p.{column} FROM {{payment}} p WHERE {{findings}}.line_type IN ({{about_payment}}) "
    "AND p.id = {{findings}}.match_key)"
)
_REFUND = (
    "(SELECT r.{column} FROM {{refund}} r WHERE {{findings}}.line_type = 'refund' AND r.id = {{findings}}.match_key)"
)
_DISPUTE = (
    "(SELECT d.{column} FROM {{dispute}} d WHERE {{findings}}.line_type IN ({{by_pid}}) "
    "AND d.processor_dispute_id = {{findings}}.match_key)"
)
_PAYOUT = (
    "(SELECT po.{column} FROM {{payout}} po WHERE {{findings}}.line_type = 'payout' AND po.id = {{findings}}.match_key)"
)


def _of_object(
    column: str,
    *,
    payment: str | None = None,
    refund: str | None = None,
    dispute: str | None = None,
    payout: str | None = None,
) -> str:
    """COALESCE of ``column`` of the finding's payment, refund, dispute or payout (or the named columns of each)."""
    return (
        f"COALESCE({_PAYMENT.format(column=payment or column)}, {_REFUND.format(column=refund or column)}, "
        f"{_DISPUTE.format(column=dispute or column)}, {_PAYOUT.format(column=payout or column)})"
    )


def _sum_if_it_fits(expr: str) -> str:
    """SUM(expr) over the group, or NULL when it does not fit a 64-bit integer; never an error.

    Every line's value fits (16 digits at most), but a thousand of them may not:
    a well-formed report must not fail the run. PostgreSQL sums bigints as
    numeric; SQLite raises "integer overflow", so it sums the high and low parts
    of each value apart (neither sum can overflow) and recombines them, which
    SQLite turns into a REAL when the total leaves the 64-bit range.
    """
    if _postgres():
        total = f"SUM({expr})"
        return f"CASE WHEN {total} BETWEEN -9223372036854775808 AND 9223372036854775807 THEN {total} END"
    total = f"(SUM({expr} / 100000000) * 100000000 + SUM({expr} %% 100000000))"
    return f"CASE WHEN typeof({total}) = 'integer' THEN {total} END"


def duplicates_collect(*, run_id: int, suspects: set[tuple[str, str]]) -> None:
    """Confirm the reader's suspects: the (type, match key) pairs on more than one line of the report.

    The group's amounts and fees are summed; a sum beyond 64 bits is NULL (the lines are in ``lines``).
    """
    _require_transaction()
    if not suspects:
        return
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {SUSPECTS} (type, match_key) VALUES (%s, %s)", sorted(suspects))
    _execute(
        "INSERT INTO {dups} (type, match_key, line_count, lines, currency, amount, fee, expected_fee, reference, "
        "processor_id) "
        f"SELECT l.type, l.match_key, COUNT(*), {_line_list('l.line_number')}, MIN(l.currency), "
        f"{_sum_if_it_fits('l.amount')}, {_sum_if_it_fits('l.fee')}, MIN(l.expected_fee), MIN(l.reference), "
        "MIN(l.processor_id) "
        "FROM {line} l JOIN {suspects} s ON s.type = l.type AND s.match_key = l.match_key "
        "WHERE l.run_id = %(run)s GROUP BY l.type, l.match_key HAVING COUNT(*) > 1",
        {"run": run_id},
    )


def findings_collect(*, run_id: int) -> None:
    """Write every difference between the run's lines and the staged ledger events to the findings table.

    One pass over the day on PostgreSQL, a hash full join on (type, match key)
    of the lines and the ledger events (two on SQLite: the lines against the
    events, then the events against the lines). Each line gets at most
    one finding, the most fundamental: a duplicated (type, match key) is
    ``duplicate_external`` and nothing else; a line with no ledger event is
    ``status_mismatch`` when our object exists in a state that contradicts it
    (a payout line for a payout we do not hold as ``paid``, for one), else
    ``missing_internal``; a pair disagrees on currency, then amount, then
    fee. A ledger event with no line is ``missing_external``. Our objects are
    looked up afterwards, for the findings alone.
    """
    _require_transaction()
    run = {"run": run_id}
    _execute(
        f"INSERT INTO {{findings}} ({_FINDING_COLUMNS}) "
        "SELECT 'duplicate_external', x.type, x.match_key, i.merchant_id, x.reference, x.processor_id, x.currency, "
        "i.amount, x.amount, x.expected_fee, x.fee, x.lines, i.entry_id, NULL, i.currency, x.line_count "
        "FROM {dups} x LEFT JOIN {internal} i ON i.type = x.type AND i.match_key = x.match_key"
    )
    if _postgres():
        # One pass: a hash full join of the lines and the ledger events.
        _execute(
            f"INSERT INTO {{findings}} ({_FINDING_COLUMNS}) "
            "SELECT CASE WHEN i.match_key IS NULL THEN 'missing_internal' "
            "  WHEN l.match_key IS NULL THEN 'missing_external' "
            "  WHEN i.currency <> l.currency THEN 'currency_mismatch' "
            "  WHEN i.amount <> l.amount THEN 'amount_mismatch' ELSE 'fee_mismatch' END, "
            "COALESCE(l.type, i.type), COALESCE(l.match_key, i.match_key), i.merchant_id, "
            "COALESCE(l.reference, i.source), l.processor_id, COALESCE(l.currency, i.currency), i.amount, l.amount, "
            "l.expected_fee, l.fee, COALESCE('[' || l.line_number || ']', '[]'), i.entry_id, NULL, i.currency, "
            "CASE WHEN l.match_key IS NULL THEN 0 ELSE 1 END "
            "FROM (SELECT type, match_key, reference, processor_id, currency, amount, fee, expected_fee, line_number "
            "      FROM {line} WHERE run_id = %(run)s) l "
            "FULL JOIN {internal} i ON i.type = l.type AND i.match_key = l.match_key "
            "WHERE l.match_key IS NULL OR i.match_key IS NULL OR i.currency <> l.currency OR i.amount <> l.amount "
            "OR l.fee <> l.expected_fee",
            run,
        )
    else:
        _execute(
            f"INSERT INTO {{findings}} ({_FINDING_COLUMNS}) "
            "SELECT CASE WHEN i.match_key IS NULL THEN 'missing_internal' "
            "  WHEN i.currency <> l.currency THEN 'currency_mismatch' "
            "  WHEN i.amount <> l.amount THEN 'amount_mismatch' ELSE 'fee_mismatch' END, "
            "l.type, l.match_key, i.merchant_id, l.reference, l.processor_id, l.currency, i.amount, l.amount, "
            "l.expected_fee, l.fee, '[' || l.line_number || ']', i.entry_id, NULL, i.currency, 1 "
            "FROM {line} l LEFT JOIN {internal} i ON i.type = l.type AND i.match_key = l.match_key "
            "WHERE l.run_id = %(run)s "
            "AND (i.match_key IS NULL OR i.currency <> l.currency OR i.amount <> l.amount OR l.fee <> l.expected_fee)",
            run,
        )
        _execute(
            f"INSERT INTO {{findings}} ({_FINDING_COLUMNS}) "
            "SELECT 'missing_external', i.type, i.match_key, i.merchant_id, i.source, NULL, i.currency, i.amount, "
            "NULL, NULL, NULL, '[]', i.entry_id, NULL, i.currency, 0 "
            "FROM {internal} i WHERE NOT EXISTS ("
            "  SELECT 1 FROM {line_keys} l WHERE l.run_id = %(run)s AND l.type = i.type AND l.match_key = i.match_key)",
            run,
        )
    # A duplicated (type, match key) is that and nothing else.
    _execute(
        "DELETE FROM {findings} WHERE kind <> 'duplicate_external' AND EXISTS ("
        "SELECT 1 FROM {dups} x WHERE x.type = {findings}.line_type AND x.match_key = {findings}.match_key)"
    )
    # What we hold: the object's status, its merchant, and for a missing line the ids the report would have used.
    _execute(
        f"UPDATE {{findings}} SET object_status = {_of_object('status')}, "
        f"merchant_id = COALESCE(merchant_id, {_of_object('merchant_id')})"
    )
    processor_ids = _of_object(
        "",
        payment="processor_charge_id",
        refund="processor_refund_id",
        dispute="processor_dispute_id",
        payout="processor_payout_id",
    )
    _execute(
        f"UPDATE {{findings}} SET processor_id = {processor_ids}, "
        f"reference = COALESCE({_DISPUTE.format(column='payment_id')}, reference) "
        "WHERE kind = 'missing_external'"
    )
    # A line we have no ledger event for, about an object whose state says it should not have settled.
    _execute(
        "UPDATE {findings} SET kind = 'status_mismatch' WHERE kind = 'missing_internal' AND ("
        "  (line_type IN ({about_payment}) AND object_status IS NOT NULL AND object_status <> 'succeeded') "
        "  OR (line_type = 'refund' AND object_status IN ('pending', 'failed')) "
        "  OR (line_type = 'dispute_reversal' AND object_status IS NOT NULL AND object_status <> 'won') "
        "  OR (line_type = 'payout' AND object_status IS NOT NULL AND object_status <> 'paid'))"
    )


@dataclass(frozen=True)
class Tally:
    lines: int
    internal_items: int
    matched: int
    counts: dict[str, int]


def findings_tally(*, lines: int, internal_items: int) -> Tally:
    """Findings per type, and the lines that matched (every line that is neither duplicated nor a finding)."""
    counts = dict.fromkeys(T.values, 0)
    counts.update({kind: n for kind, n in _fetch("SELECT kind, COUNT(*) FROM {findings} GROUP BY kind")})
    (duplicated_lines,) = _fetch("SELECT COALESCE(SUM(line_count), 0) FROM {dups}")[0]
    line_findings = sum(n for kind, n in counts.items() if kind not in (T.DUPLICATE_EXTERNAL, T.MISSING_EXTERNAL))
    return Tally(
        lines=lines, internal_items=internal_items, matched=lines - int(duplicated_lines) - line_findings, counts=counts
    )


def exceptions_replace(*, run_id: int, processor: str, settlement_date: datetime.date, now: datetime.datetime) -> None:
    """Make the processor's day's open exceptions exactly the findings, leaving resolved ones alone.

    A finding is identified by (type, line type, match key): a match key is only
    unique within a line type (a charge and its return share the payment id, a
    dispute and its reversal the processor's dispute id), and the findings hold
    at most one row per identity (lines and ledger events are paired on (line
    type, match key), and a duplicated pair is one finding). An open exception
    found again keeps its id and ``created`` (its age) and takes the new figures;
    one not found again is deleted; a new finding is inserted unless an exception
    with its identity exists already, which is then a resolved one that stays
    resolved.
    """
    _require_transaction()
    params = {
        "run": run_id,
        "processor": processor,
        "day": connection.ops.adapt_datefield_value(settlement_date),
        "now": _adapt_datetime(now),
    }
    details = _json_object(
        ("lines", _json_text("f.lines")),
        ("line_count", "f.line_count"),
        ("ledger_entry", "f.ledger_entry"),
        ("object_status", "f.object_status"),
        ("internal_currency", "f.internal_currency"),
    )
    _execute(
        "DELETE FROM {exc} WHERE processor = %(processor)s AND settlement_date = %(day)s AND status = 'open' "
        "AND NOT EXISTS ("
        "SELECT 1 FROM {findings} f WHERE f.kind = {exc}.type AND f.line_type = {exc}.line_type "
        "AND f.match_key = {exc}.match_key)",
        params,
    )
    _execute(
        "UPDATE {exc} SET run_id = %(run)s, line_type = f.line_type, merchant_id = f.merchant_id, "
        "reference = COALESCE(f.reference, ''), processor_id = COALESCE(f.processor_id, ''), "
        "currency = COALESCE(f.currency, ''), internal_amount = f.internal_amount, "
        "external_amount = f.external_amount, expected_fee = f.expected_fee, external_fee = f.external_fee, "
        f"details = {details}, updated = %(now)s "
        "FROM {findings} f WHERE {exc}.processor = %(processor)s AND {exc}.settlement_date = %(day)s "
        "AND {exc}.status = 'open' "
        "AND f.kind = {exc}.type AND f.line_type = {exc}.line_type AND f.match_key = {exc}.match_key",
        params,
    )
    _execute(
        "INSERT INTO {exc} (run_id, processor, settlement_date, type, line_type, match_key, merchant_id, reference, "
        "processor_id, currency, internal_amount, external_amount, expected_fee, external_fee, details, status, "
        "resolution, note, resolved_by_id, resolved_at, ledger_entry_id, created, updated) "
        # The processor's name is also compared below: one type for both uses (the server binds the value once).
        "SELECT %(run)s, CAST(%(processor)s AS varchar), %(day)s, f.kind, f.line_type, f.match_key, f.merchant_id, "
        "COALESCE(f.reference, ''), COALESCE(f.processor_id, ''), COALESCE(f.currency, ''), f.internal_amount, "
        "f.external_amount, "
        f"f.expected_fee, f.external_fee, {details}, 'open', '', '', NULL, NULL, NULL, %(now)s, %(now)s "
        "FROM {findings} f WHERE NOT EXISTS (SELECT 1 FROM {exc} x WHERE x.processor = %(processor)s "
        "AND x.settlement_date = %(day)s "
        "AND x.type = f.kind AND x.line_type = f.line_type AND x.match_key = f.match_key)",
        params,
    )


def match(
    *,
    run_id: int,
    processor: str,
    settlement_date: datetime.date,
    start: datetime.datetime,
    cutoff: datetime.datetime,
    lines: int,
    suspects: set[tuple[str, str]],
    now: datetime.datetime,
) -> Tally:
    """Stage our side, collect the differences, write them as exceptions; returns the figures of the run.

    ``suspects`` are the (type, match key) pairs the reader saw more than once (or may have).
    """
    _require_transaction()
    _create_temporary_tables()
    internal_items = internal_build(processor=processor, settlement_date=settlement_date, start=start, cutoff=cutoff)
    if _postgres():
        # Temporary tables are never analysed automatically: give the planner the real size of our side.
        _execute("ANALYZE {internal}")
    else:
        # SQLite joins by nested loops: give them indexes (PostgreSQL hashes the whole tables instead).
        _execute("CREATE INDEX recon_internal_key ON {internal} (type, match_key)")
        _execute("DROP TABLE IF EXISTS {line_keys}")
        _execute(
            "CREATE TEMPORARY TABLE {line_keys} AS SELECT run_id, type, match_key FROM {line} WHERE run_id = %s",
            [run_id],
        )
        _execute("CREATE INDEX recon_line_keys_key ON {line_keys} (type, match_key)")
    duplicates_collect(run_id=run_id, suspects=suspects)
    findings_collect(run_id=run_id)
    tally = findings_tally(lines=lines, internal_items=internal_items)
    exceptions_replace(run_id=run_id, processor=processor, settlement_date=settlement_date, now=now)
    for name in (INTERNAL, SUSPECTS, DUPLICATES, FINDINGS) + (() if _postgres() else (LINE_KEYS,)):
        _execute(f"DROP TABLE {name}")
    return tally
