"""Reading the processor's settlement report: validated line by line while it streams, never trusted.

The format is in ``docs/settlement-report.md`` (what the sandbox writes) and
``docs/reconciliation.md`` (what this side accepts). ``ReportReader.batches()``
yields the lines in batches, each line a tuple ready for the staging table, and
raises ``ReportInvalid`` naming the first bad line; the caller loads the batches
inside one transaction, so a bad line anywhere imports nothing.
"""

import csv
import datetime
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from django.conf import settings

from core.money import CURRENCY_EXPONENTS
from ledger.fees import round_half_even
from reconciliation.errors import ReportInvalid
from reconciliation.models import MATCHED_BY_PROCESSOR_ID, LineType

COLUMNS = ("settlement_date", "type", "processor_id", "reference", "currency", "amount", "fee", "net")
TYPES = frozenset(LineType.values)
BY_PROCESSOR_ID = frozenset(MATCHED_BY_PROCESSOR_ID)
MAX_ID_LENGTH = 255
# Sixteen digits at most: every value and every difference of two fits a 64-bit integer.
_INTEGER = re.compile(r"-?[0-9]{1,16}\Z")
# amount, fee and net checked at once (the common case); a failure is then explained field by field.
_THREE_INTEGERS = re.compile(r"-?[0-9]{1,16},-?[0-9]{1,16},-?[0-9]{1,16}\Z")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
BATCH_SIZE = 10_000
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
        """The fee of one line: refunds, reversals and returns cost nothing."""
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


def _integer(value: str, name: str, line: int) -> int:
    if _INTEGER.match(value) is None:
        if re.fullmatch(r"-?[0-9]+", value):
            raise ReportInvalid(f"{name} '{value}' is out of range", line=line)
        raise ReportInvalid(f"{name} '{value}' is not an integer", line=line)
    return int(value)


def _date_problem(value: str, day: datetime.date) -> str:
    if _DATE.match(value):
        try:
            other = datetime.date.fromisoformat(value)
        except ValueError:
            pass
        else:
            return f"settlement_date {other.isoformat()} is not the requested day {day.isoformat()}"
    return f"settlement_date '{value}' is not a date (YYYY-MM-DD)"


def _header(reader) -> tuple[list[int], int]:
    """The position of each column of ``COLUMNS`` in the header, and how many columns it has (extra ones are
    ignored)."""
    try:
        header = next(reader)
    except StopIteration:
        raise ReportInvalid("the report is empty: no header line") from None
    names = [name.strip() for name in header]
    if not any(names):
        raise ReportInvalid("the header line is empty", line=1)
    positions = []
    for column in COLUMNS:
        if names.count(column) > 1:
            raise ReportInvalid(f"column '{column}' appears more than once", line=1)
        if column not in names:
            raise ReportInvalid(f"missing column '{column}' (the header must name {', '.join(COLUMNS)})", line=1)
        positions.append(names.index(column))
    return positions, len(names)


class ReportReader:
    """Reads one report: ``batches()`` yields its lines in batches of validated rows, raising ReportInvalid at
    the first error.

    Checked on every line: the number of fields, ``settlement_date`` is ``day``,
    a known ``type`` and ISO currency, non-empty ids of at most 255 characters,
    integer ``amount``/``fee``/``net`` and ``net = amount − fee``.

    While it reads, it notes every (type, match key) it may have seen before in
    ``repeated_keys``, from a set of 64-bit hashes (a few dozen bytes a line, not
    the keys themselves). A hash collision only makes a key a suspect: the
    matching confirms duplicates with ``GROUP BY … HAVING COUNT(*) > 1`` over the
    suspects alone, so a report without duplicates is never grouped at all.
    """

    def __init__(self, stream: BinaryIO, *, day: datetime.date, fees: ProcessorFees, batch_size: int = BATCH_SIZE):
        self.stream = stream
        self.day = day
        self.fees = fees
        self.batch_size = batch_size
        self.repeated_keys: set[tuple[str, str]] = set()

    def batches(self) -> Iterator[list[Row]]:
        text = io.TextIOWrapper(self.stream, encoding="utf-8-sig", errors="strict", newline="")
        reader = csv.reader(text, strict=True)
        line = 1
        try:
            positions, width = _header(reader)
            yield from self._rows(reader, positions, width)
        except UnicodeDecodeError:
            raise ReportInvalid("the report is not valid UTF-8", line=reader.line_num + 1) from None
        except csv.Error as error:
            raise ReportInvalid(f"unreadable CSV ({error})", line=reader.line_num or line) from None

    def _rows(self, reader, positions: list[int], width: int) -> Iterator[list[Row]]:
        # The hot loop of a million-line report: locals only, cheap checks first, messages built on failure.
        day, batch_size = self.day, self.batch_size
        p_date, p_type, p_pid, p_ref, p_cur, p_amount, p_fee, p_net = positions
        iso_day = day.isoformat()
        currencies = CURRENCY_EXPONENTS
        dispute_fee = self.fees.dispute
        # Prices repeat: the half-even arithmetic runs once per distinct amount (the memo is kept small).
        charge_fees: dict[int, int] = {}
        expected_fee = self.fees.expected
        three_integers = _THREE_INTEGERS.match
        by_processor_id = BY_PROCESSOR_ID
        seen: set[int] = set()
        remember, repeated = seen.add, self.repeated_keys
        batch: list[Row] = []
        append = batch.append
        for row in reader:
            line = reader.line_num
            if len(row) != width:
                if not row or row == [""]:
                    raise ReportInvalid("blank line", line=line)
                raise ReportInvalid(f"{len(row)} fields, the header has {width}", line=line)
            settlement_date = row[p_date]
            if settlement_date != iso_day:
                raise ReportInvalid(_date_problem(settlement_date, day), line=line)
            line_type = row[p_type]
            if line_type not in TYPES:
                raise ReportInvalid(f"unknown type '{line_type}' (expected {', '.join(sorted(TYPES))})", line=line)
            processor_id, reference = row[p_pid], row[p_ref]
            if not processor_id or not reference:
                raise ReportInvalid(f"{'processor_id' if not processor_id else 'reference'} is empty", line=line)
            if len(processor_id) > MAX_ID_LENGTH or len(reference) > MAX_ID_LENGTH:
                raise ReportInvalid(f"an id is longer than {MAX_ID_LENGTH} characters", line=line)
            if "\x00" in processor_id or "\x00" in reference:
                raise ReportInvalid("an id contains a NUL character", line=line)
            currency = row[p_cur]
            if currency not in currencies:
                raise ReportInvalid(f"unknown currency '{currency}'", line=line)
            amount, fee, net = row[p_amount], row[p_fee], row[p_net]
            if three_integers(f"{amount},{fee},{net}") is None:
                for value, name in ((amount, "amount"), (fee, "fee"), (net, "net")):
                    _integer(value, name, line)
            amount, fee, net = int(amount), int(fee), int(net)
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
            if len(batch) >= batch_size:
                yield batch
                batch = []
                append = batch.append
        if batch:
            yield batch


def read_batches(
    stream: BinaryIO, *, day: datetime.date, fees: ProcessorFees, batch_size: int = BATCH_SIZE
) -> Iterator[list[Row]]:
    """The lines of a report in validated batches (``ReportReader(...).batches()``)."""
    return ReportReader(stream, day=day, fees=fees, batch_size=batch_size).batches()
