"""The set-based engine of a run: staging, matching and writing exceptions, in SQL that works on both databases.

Called only by ``reconciliation.services`` inside the transaction of a run (each
function refuses to run outside one). No statement here loops over lines: the
report goes into ``reconciliation_settlementline`` by ``COPY`` (PostgreSQL) or
batched inserts (SQLite), the ledger's side of the day goes into a temporary
table with one ``INSERT … SELECT``, and the differences come out of a handful of
joins (``GROUP BY … HAVING`` for duplicates, anti-joins for what one side lacks,
an inner join for what both have but disagree on). Only the differences are
written; matched lines are counted, never copied.

The rules themselves are documented in ``docs/reconciliation.md``.
"""

# The SQL below is assembled from constant fragments and model table names only; every value is a bound parameter.
# ruff: noqa: S608

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection
from django.db.transaction import TransactionManagementError

from core.db import in_transaction
from ledger.models import Account, AccountCode, JournalEntry, Posting
from payments.models import Dispute, Payment, Refund
from reconciliation.models import (
    MATCHED_BY_PROCESSOR_ID,
    ExceptionType,
    LineType,
    ReconciliationException,
    SettlementLine,
)
from reconciliation.report import STAGING_COLUMNS, Row

T = ExceptionType
INTERNAL = "recon_internal"
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
        "internal": INTERNAL,
        "dups": DUPLICATES,
        "findings": FINDINGS,
        "by_pid": ", ".join(f"'{t}'" for t in MATCHED_BY_PROCESSOR_ID),
        "types": ", ".join(f"'{t}'" for t in LineType.values),
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


def _adapt_datetime(value: datetime.datetime):
    return connection.ops.adapt_datetimefield_value(value)


# --- The report: the external staging table ---------------------------------------------------------------


def lines_replace(*, run_id: int, batches: Iterable[list[Row]]) -> int:
    """Delete the run's previous lines and load the new ones; returns how many were loaded.

    PostgreSQL: ``COPY … FROM STDIN`` through psycopg's ``cursor.copy()`` on the
    raw connection, which is in the run's transaction. SQLite: ``executemany``
    per batch. A ``ReportInvalid`` raised by ``batches`` mid-way propagates: the
    caller's transaction rolls back everything loaded so far.
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
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})",
                               [(run_id, *row) for row in batch])  # fmt: skip
            count += len(batch)
    return count


# --- Our side: the internal staging table -----------------------------------------------------------------


def _create_temporary_tables() -> None:
    for name in (INTERNAL, DUPLICATES, FINDINGS):
        _execute(f"DROP TABLE IF EXISTS {name}")
    _execute(
        "CREATE TEMPORARY TABLE {internal} (type varchar(32) NOT NULL, match_key varchar(255) NOT NULL, "
        "merchant_id varchar(40), currency varchar(3) NOT NULL, amount bigint NOT NULL, entry_id varchar(40) NOT NULL, "
        "source varchar(40) NOT NULL)"
    )
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


def internal_build(*, settlement_date: datetime.date, start: datetime.datetime, cutoff: datetime.datetime) -> int:
    """Stage what our ledger says moved through the processor on the day: one row per (type, match key).

    Posted entries of type charge/refund/dispute/dispute_reversal created in
    [start, cutoff), amount = their posted postings on the platform's
    processor_receivable. An entry that an automatic resolution linked to an
    exception counts on that exception's settlement date instead of the day it
    was posted (a lost answer settled by the report of the day before).
    """
    _require_transaction()
    params = {
        "start": _adapt_datetime(start), "cutoff": _adapt_datetime(cutoff),
        "day": connection.ops.adapt_datefield_value(settlement_date), "posted": JournalEntry.Status.POSTED,
        "auto": ReconciliationException.Resolution.AUTO_RESOLVED, "receivable": AccountCode.PROCESSOR_RECEIVABLE,
        "phase": Posting.Phase.POSTED,
    }  # fmt: skip
    return _execute(
        "INSERT INTO {internal} (type, match_key, merchant_id, currency, amount, entry_id, source) "
        "SELECT e.type, CASE WHEN e.type IN ({by_pid}) THEN COALESCE(d.processor_dispute_id, e.source) "
        "ELSE e.source END, MIN(e.merchant_id), MIN(e.currency), SUM(p.amount), MIN(e.id), MIN(e.source) "
        "FROM ("
        "  SELECT je.id, je.type, je.source, je.merchant_id, je.currency FROM {entry} je "
        "  WHERE je.created >= %(start)s AND je.created < %(cutoff)s AND je.status = %(posted)s "
        "  AND je.type IN ({types}) "
        "  AND NOT EXISTS (SELECT 1 FROM {exc} x WHERE x.ledger_entry_id = je.id AND x.resolution = %(auto)s "
        "                  AND x.settlement_date <> %(day)s) "
        "  UNION ALL "
        "  SELECT je.id, je.type, je.source, je.merchant_id, je.currency FROM {exc} x "
        "  JOIN {entry} je ON je.id = x.ledger_entry_id "
        "  WHERE x.settlement_date = %(day)s AND x.resolution = %(auto)s AND je.status = %(posted)s "
        "  AND je.type IN ({types}) AND NOT (je.created >= %(start)s AND je.created < %(cutoff)s)"
        ") e "
        "JOIN {posting} p ON p.entry_id = e.id AND p.phase = %(phase)s "
        "JOIN {account} a ON a.id = p.account_id AND a.code = %(receivable)s AND a.merchant_id IS NULL "
        "LEFT JOIN {dispute} d ON e.type IN ({by_pid}) AND d.id = e.source "
        "GROUP BY 1, 2",
        params,
    )


# --- Matching ------------------------------------------------------------------------------------------------

# Our payment, refund or dispute that a line (or a staged ledger event) ``alias`` is about.
_OBJECTS = (
    "LEFT JOIN {{payment}} p ON {a}.type = 'charge' AND p.id = {a}.{key} "
    "LEFT JOIN {{refund}} r ON {a}.type = 'refund' AND r.id = {a}.{key} "
    "LEFT JOIN {{dispute}} d ON {a}.type IN ({{by_pid}}) AND d.processor_dispute_id = {a}.match_key "
)
_FINDING_COLUMNS = (
    "kind, line_type, match_key, merchant_id, reference, processor_id, currency, internal_amount, external_amount, "
    "expected_fee, external_fee, lines, ledger_entry, object_status, internal_currency, line_count"
)


def findings_collect(*, run_id: int) -> None:
    """Write every difference between the run's lines and the staged ledger events to the findings table.

    Each line gets at most one finding, the most fundamental: a duplicated
    (type, match key) is ``duplicate_external`` and nothing else; a line with no
    ledger event is ``status_mismatch`` when our object exists in a state that
    contradicts it, else ``missing_internal``; a pair disagrees on currency, then
    amount, then fee. A ledger event with no line is ``missing_external``.
    """
    _require_transaction()
    run = {"run": run_id}
    _execute(
        "INSERT INTO {dups} (type, match_key, line_count, lines, currency, amount, fee, expected_fee, reference, "
        "processor_id) "
        f"SELECT type, match_key, COUNT(*), {_line_list('line_number')}, MIN(currency), SUM(amount), SUM(fee), "
        "MIN(expected_fee), MIN(reference), MIN(processor_id) "
        "FROM {line} WHERE run_id = %(run)s GROUP BY type, match_key HAVING COUNT(*) > 1",
        run,
    )
    # Duplicates: one finding per (type, match key), whatever else is wrong with those lines.
    _execute(
        f"INSERT INTO {{findings}} ({_FINDING_COLUMNS}) "
        "SELECT 'duplicate_external', x.type, x.match_key, COALESCE(i.merchant_id, p.merchant_id, r.merchant_id, "
        "d.merchant_id), x.reference, x.processor_id, x.currency, i.amount, x.amount, x.expected_fee, x.fee, x.lines, "
        "i.entry_id, COALESCE(p.status, r.status, d.status), i.currency, x.line_count "
        "FROM {dups} x LEFT JOIN {internal} i ON i.type = x.type AND i.match_key = x.match_key "
        + _OBJECTS.format(a="x", key="match_key")
    )
    # Lines with no ledger event that day.
    _execute(
        f"INSERT INTO {{findings}} ({_FINDING_COLUMNS}) "
        "SELECT CASE "
        "  WHEN l.type = 'charge' AND p.status IS NOT NULL AND p.status <> 'succeeded' THEN 'status_mismatch' "
        "  WHEN l.type = 'refund' AND r.status IN ('pending', 'failed') THEN 'status_mismatch' "
        "  WHEN l.type = 'dispute_reversal' AND d.status IS NOT NULL AND d.status <> 'won' THEN 'status_mismatch' "
        "  ELSE 'missing_internal' END, "
        "l.type, l.match_key, COALESCE(p.merchant_id, r.merchant_id, d.merchant_id), l.reference, l.processor_id, "
        "l.currency, NULL, l.amount, l.expected_fee, l.fee, '[' || l.line_number || ']', NULL, "
        "COALESCE(p.status, r.status, d.status), NULL, 1 "
        "FROM (SELECT * FROM {line} l WHERE l.run_id = %(run)s "
        "      AND NOT EXISTS (SELECT 1 FROM {internal} i WHERE i.type = l.type AND i.match_key = l.match_key) "
        "      AND NOT EXISTS (SELECT 1 FROM {dups} x WHERE x.type = l.type AND x.match_key = l.match_key)) l "
        + _OBJECTS.format(a="l", key="match_key"),
        run,
    )
    # Lines whose ledger event disagrees: currency before amount before fee.
    _execute(
        f"INSERT INTO {{findings}} ({_FINDING_COLUMNS}) "
        "SELECT CASE WHEN i.currency <> l.currency THEN 'currency_mismatch' "
        "  WHEN i.amount <> l.amount THEN 'amount_mismatch' ELSE 'fee_mismatch' END, "
        "l.type, l.match_key, i.merchant_id, l.reference, l.processor_id, l.currency, i.amount, l.amount, "
        "l.expected_fee, l.fee, '[' || l.line_number || ']', i.entry_id, NULL, i.currency, 1 "
        "FROM {line} l JOIN {internal} i ON i.type = l.type AND i.match_key = l.match_key "
        "WHERE l.run_id = %(run)s AND (i.currency <> l.currency OR i.amount <> l.amount OR l.fee <> l.expected_fee) "
        "AND NOT EXISTS (SELECT 1 FROM {dups} x WHERE x.type = l.type AND x.match_key = l.match_key)",
        run,
    )
    # Ledger events the report lacks. Shown with the ids the report would have used.
    _execute(
        f"INSERT INTO {{findings}} ({_FINDING_COLUMNS}) "
        "SELECT 'missing_external', i.type, i.match_key, i.merchant_id, "
        "CASE WHEN i.type IN ({by_pid}) THEN COALESCE(d.payment_id, i.source) ELSE i.source END, "
        "CASE WHEN i.type = 'charge' THEN p.processor_charge_id WHEN i.type = 'refund' THEN r.processor_refund_id "
        "  ELSE i.match_key END, "
        "i.currency, i.amount, NULL, NULL, NULL, '[]', i.entry_id, COALESCE(p.status, r.status, d.status), "
        "i.currency, 0 "
        "FROM (SELECT * FROM {internal} i WHERE NOT EXISTS ("
        "      SELECT 1 FROM {line} l WHERE l.run_id = %(run)s AND l.type = i.type AND l.match_key = i.match_key)) i "
        + _OBJECTS.format(a="i", key="source"),
        run,
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
    return Tally(lines=lines, internal_items=internal_items, matched=lines - int(duplicated_lines) - line_findings,
                 counts=counts)  # fmt: skip


def exceptions_replace(*, run_id: int, settlement_date: datetime.date, now: datetime.datetime) -> None:
    """Make the day's open exceptions exactly the findings, leaving resolved ones alone.

    An open exception found again keeps its id and ``created`` (its age) and takes
    the new figures; one not found again is deleted; a new finding is inserted
    unless an exception with its (type, match key) exists already, which is then
    a resolved one that stays resolved.
    """
    _require_transaction()
    params = {"run": run_id, "day": connection.ops.adapt_datefield_value(settlement_date),
              "now": _adapt_datetime(now)}  # fmt: skip
    details = _json_object(
        ("lines", _json_text("f.lines")), ("line_count", "f.line_count"), ("ledger_entry", "f.ledger_entry"),
        ("object_status", "f.object_status"), ("internal_currency", "f.internal_currency"),
    )
    _execute(
        "DELETE FROM {exc} WHERE settlement_date = %(day)s AND status = 'open' AND NOT EXISTS ("
        "SELECT 1 FROM {findings} f WHERE f.kind = {exc}.type AND f.match_key = {exc}.match_key)",
        params,
    )
    _execute(
        "UPDATE {exc} SET run_id = %(run)s, line_type = f.line_type, merchant_id = f.merchant_id, "
        "reference = COALESCE(f.reference, ''), processor_id = COALESCE(f.processor_id, ''), "
        "currency = COALESCE(f.currency, ''), internal_amount = f.internal_amount, "
        "external_amount = f.external_amount, expected_fee = f.expected_fee, external_fee = f.external_fee, "
        f"details = {details}, updated = %(now)s "
        "FROM {findings} f WHERE {exc}.settlement_date = %(day)s AND {exc}.status = 'open' "
        "AND f.kind = {exc}.type AND f.match_key = {exc}.match_key",
        params,
    )
    _execute(
        "INSERT INTO {exc} (run_id, settlement_date, type, line_type, match_key, merchant_id, reference, "
        "processor_id, currency, internal_amount, external_amount, expected_fee, external_fee, details, status, "
        "resolution, note, resolved_by_id, resolved_at, ledger_entry_id, created, updated) "
        "SELECT %(run)s, %(day)s, f.kind, f.line_type, f.match_key, f.merchant_id, COALESCE(f.reference, ''), "
        "COALESCE(f.processor_id, ''), COALESCE(f.currency, ''), f.internal_amount, f.external_amount, "
        f"f.expected_fee, f.external_fee, {details}, 'open', '', '', NULL, NULL, NULL, %(now)s, %(now)s "
        "FROM {findings} f WHERE NOT EXISTS (SELECT 1 FROM {exc} x WHERE x.settlement_date = %(day)s "
        "AND x.type = f.kind AND x.match_key = f.match_key)",
        params,
    )


def match(*, run_id: int, settlement_date: datetime.date, start: datetime.datetime, cutoff: datetime.datetime,
          lines: int, now: datetime.datetime) -> Tally:  # fmt: skip
    """Stage our side, collect the differences, write them as exceptions; returns the figures of the run."""
    _require_transaction()
    _create_temporary_tables()
    internal_items = internal_build(settlement_date=settlement_date, start=start, cutoff=cutoff)
    if not _postgres():
        # SQLite joins by nested loops: give them an index (PostgreSQL hashes the whole table instead).
        _execute("CREATE INDEX recon_internal_key ON {internal} (type, match_key)")
    findings_collect(run_id=run_id)
    tally = findings_tally(lines=lines, internal_items=internal_items)
    exceptions_replace(run_id=run_id, settlement_date=settlement_date, now=now)
    for name in (INTERNAL, DUPLICATES, FINDINGS):
        _execute(f"DROP TABLE {name}")
    return tally
