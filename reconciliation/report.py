"""Judging the processor's settlement report: every line checked while it streams, never trusted.

The processor's adapter reads its own file format into ``gateways.base.SettlementLine`` (the sandbox's CSV:
``gateways.sandbox_acquirer.settlement``, ``docs/settlement-report.md``); this module decides what a line may
say (``docs/reconciliation.md``). ``ReportReader.batches()`` turns the lines into rows of the staging table, in
batches, and raises ``ReportInvalid`` naming the first bad line (the adapter's ``SettlementReportInvalid`` when
the file itself is unreadable); the caller loads the batches inside one transaction, so a bad line anywhere
imports nothing.
"""

import datetime
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings

from core.money import CURRENCY_EXPONENTS
from gateways.base import SettlementReport
from ledger.fees import round_half_even
from reconciliation.errors import ReportInvalid
from reconciliation.models import MATCHED_BY_PROCESSOR_ID, LineType

TYPES = frozenset(LineType.values)
BY_PROCESSOR_ID = frozenset(MATCHED_BY_PROCESSOR_ID)
MAX_ID_LENGTH = 255
# Sixteen digits at most: every value and every difference of two fits a 64-bit integer.
LARGEST_AMOUNT = 10**16 - 1
# Small batches: a batch's lines and rows are freed before the garbage collector's youngest generation (700
# objects) fills up, so they are never promoted and scanned again. With 10 000 lines a batch, reading and judging
# a million lines took 5.3 s of CPU instead of 3.2 s.
BATCH_SIZE = 250
FEE_MEMO_SIZE = 1 << 18


@dataclass(frozen=True)
class ProcessorFees:
    """What the processor should deduct: ``bps`` of a charge (half-even) plus ``fixed``; ``dispute`` per dispute."""

    bps: int
    fixed: int
    dispute: int

    @classmethod
    def from_settings(cls, processor: str) -> "ProcessorFees":
        """The fees ``settings.PROCESSORS[processor]`` says that processor deducts."""
        config = settings.PROCESSORS[processor]
        return cls(bps=int(config["fee_bps"]), fixed=int(config["fee_fixed"]), dispute=int(config["dispute_fee"]))

    def expected(self, line_type: str, amount: int) -> int:
        """The fee of one line: refunds, reversals, returns and payouts cost nothing."""
        if line_type == LineType.CHARGE:
            return round_half_even(amount * self.bps, 10_000) + self.fixed
        if line_type == LineType.DISPUTE:
            return self.dispute
        return 0


# One imported line, in the staging table's column order (after run_id).
Row = tuple[int, str, str, str, str, str, int, int, int, int]
STAGING_COLUMNS = (
    "line_number",
    "type",
    "processor_id",
    "reference",
    "match_key",
    "currency",
    "amount",
    "fee",
    "net",
    "expected_fee",
)


def _out_of_range(amount: int, fee: int, net: int) -> str:
    name, value = next(
        (name, value) for name, value in (("amount", amount), ("fee", fee), ("net", net)) if abs(value) > LARGEST_AMOUNT
    )
    return f"{name} '{value}' is out of range"


class ReportReader:
    """Judges one report: ``batches()`` yields its lines as batches of staging rows, raising ReportInvalid (or
    the adapter's SettlementReportInvalid) at the first bad line.

    Checked on every line: ``settlement_date`` is ``day``, a known ``type`` and ISO
    currency, non-empty ids of at most 255 characters without NUL, ``amount``/``fee``/``net``
    of at most sixteen digits and ``net = amount − fee``. The fee the processor should have
    deducted goes into the row (``ProcessorFees``), for the matching to compare.

    While it reads, it notes every (type, match key) it may have seen before in
    ``repeated_keys``, from a set of 64-bit hashes (a few dozen bytes a line, not
    the keys themselves). A hash collision only makes a key a suspect: the
    matching confirms duplicates with ``GROUP BY … HAVING COUNT(*) > 1`` over the
    suspects alone, so a report without duplicates is never grouped at all.
    """

    def __init__(
        self, report: SettlementReport, *, day: datetime.date, fees: ProcessorFees, batch_size: int = BATCH_SIZE
    ):
        self.report = report
        self.day = day
        self.fees = fees
        self.batch_size = batch_size
        self.repeated_keys: set[tuple[str, str]] = set()

    def batches(self) -> Iterator[list[Row]]:
        # The hot loop of a million-line report: locals only, cheap checks first, messages built on failure.
        day = self.day
        currencies = CURRENCY_EXPONENTS
        largest = LARGEST_AMOUNT
        dispute_fee = self.fees.dispute
        # Prices repeat: the half-even arithmetic runs once per distinct amount (the memo is kept small).
        charge_fees: dict[int, int] = {}
        expected_fee = self.fees.expected
        by_processor_id = BY_PROCESSOR_ID
        seen: set[int] = set()
        remember, repeated = seen.add, self.repeated_keys
        for lines in self.report.batches(size=self.batch_size):
            rows: list[Row] = []
            append = rows.append
            for line, settlement_date, line_type, processor_id, reference, currency, amount, fee, net in lines:
                if settlement_date != day:
                    raise ReportInvalid(
                        f"settlement_date {settlement_date.isoformat()} is not the requested day {day.isoformat()}",
                        line=line,
                    )
                if line_type not in TYPES:
                    raise ReportInvalid(f"unknown type '{line_type}' (expected {', '.join(sorted(TYPES))})", line=line)
                if not processor_id or not reference:
                    raise ReportInvalid(f"{'processor_id' if not processor_id else 'reference'} is empty", line=line)
                if len(processor_id) > MAX_ID_LENGTH or len(reference) > MAX_ID_LENGTH:
                    raise ReportInvalid(f"an id is longer than {MAX_ID_LENGTH} characters", line=line)
                if "\x00" in processor_id or "\x00" in reference:
                    raise ReportInvalid("an id contains a NUL character", line=line)
                if currency not in currencies:
                    raise ReportInvalid(f"unknown currency '{currency}'", line=line)
                if not (-largest <= amount <= largest and -largest <= fee <= largest and -largest <= net <= largest):
                    raise ReportInvalid(_out_of_range(amount, fee, net), line=line)
                if net != amount - fee:
                    raise ReportInvalid(f"net {net} is not amount − fee ({amount} − {fee} = {amount - fee})", line=line)
                if line_type == "charge":
                    match_key, expected = reference, charge_fees.get(amount)
                    if expected is None:
                        if len(charge_fees) >= FEE_MEMO_SIZE:
                            charge_fees.clear()
                        expected = charge_fees[amount] = expected_fee(LineType.CHARGE, amount)
                elif line_type in by_processor_id:
                    match_key, expected = processor_id, dispute_fee if line_type == "dispute" else 0
                else:
                    match_key, expected = reference, 0
                key = hash((line_type, match_key))
                if key in seen:
                    repeated.add((line_type, match_key))
                else:
                    remember(key)
                append((line, line_type, processor_id, reference, match_key, currency, amount, fee, net, expected))
            yield rows
