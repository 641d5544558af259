"""The sandbox acquirer's settlement report: its CSV file (``docs/settlement-report.md``) read into
``gateways.base.SettlementLine``.

This module knows the file's syntax only: UTF-8 (a byte order mark is allowed), a header naming the columns
(in any order; extra columns are ignored), one line per settled event, integers in minor units, dates written
``YYYY-MM-DD``. What the lines mean (the day, the types, the currencies, ``net = amount − fee``, the fees) is
reconciliation's business; a line this module cannot read raises SettlementReportInvalid naming it.
"""

import codecs
import csv
import datetime
import hashlib
import io
import re
from collections.abc import Iterator
from typing import BinaryIO

from gateways.base import SettlementLine, SettlementReportInvalid

COLUMNS = ("settlement_date", "type", "processor_id", "reference", "currency", "amount", "fee", "net")
# Eighteen digits at most: every value the file may hold is a 64-bit integer.
_INTEGER = re.compile(r"-?[0-9]{1,18}\Z")
# amount, fee and net checked at once (the common case); a failure is then explained field by field.
_THREE_INTEGERS = re.compile(r"-?[0-9]{1,18},-?[0-9]{1,18},-?[0-9]{1,18}\Z")
# fromisoformat alone would also take "20261124" and "2026-W48-1".
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")


class CsvSettlementReport:
    """A sandbox settlement report (``gateways.base.SettlementReport``) over a seekable binary stream."""

    def __init__(self, stream: BinaryIO, *, sha256: str):
        self._stream = stream
        self.sha256 = sha256

    def batches(self, *, size: int) -> Iterator[list[SettlementLine]]:
        self._stream.seek(0)
        text = io.TextIOWrapper(self._stream, encoding="utf-8-sig", errors="strict", newline="")
        try:
            yield from _batches(csv.reader(text, strict=True), size, self._stream)
        finally:
            text.detach()  # the stream is the caller's: reading the report must not close it


def report_from_bytes(data: bytes) -> CsvSettlementReport:
    """The report the sandbox answered (``GET /v1/settlements/<day>.csv``)."""
    return CsvSettlementReport(io.BytesIO(data), sha256=hashlib.sha256(data).hexdigest())


def report_from_file(file: BinaryIO) -> CsvSettlementReport:
    """A report kept in a file (seekable): hashed now, parsed when read."""
    sha256 = hashlib.file_digest(file, "sha256").hexdigest()
    file.seek(0)
    return CsvSettlementReport(file, sha256=sha256)


def _batches(reader, size: int, stream: BinaryIO) -> Iterator[list[SettlementLine]]:
    """The lines in batches; at a line it cannot read, the lines before it, then SettlementReportInvalid."""
    batch: list[SettlementLine] = []
    try:
        positions, width = _header(reader)
        # The hot loop of a million-line report: locals only, cheap checks first, messages built on failure.
        p_date, p_type, p_pid, p_ref, p_cur, p_amount, p_fee, p_net = positions
        three_integers = _THREE_INTEGERS.match
        new_line = tuple.__new__
        date_text, settlement_date = None, None  # the last date read: every line of a report has the same
        append = batch.append
        for row in reader:
            line = reader.line_num
            if len(row) != width:
                if not row or row == [""]:
                    raise SettlementReportInvalid("blank line", line=line)
                raise SettlementReportInvalid(f"{len(row)} fields, the header has {width}", line=line)
            if row[p_date] != date_text:
                date_text = row[p_date]
                settlement_date = _date(date_text, line)
            amount, fee, net = row[p_amount], row[p_fee], row[p_net]
            if three_integers(f"{amount},{fee},{net}") is None:
                for value, name in ((amount, "amount"), (fee, "fee"), (net, "net")):
                    _integer(value, name, line)
            append(
                new_line(
                    SettlementLine,
                    (
                        line,
                        settlement_date,
                        row[p_type],
                        row[p_pid],
                        row[p_ref],
                        row[p_cur],
                        int(amount),
                        int(fee),
                        int(net),
                    ),
                )
            )
            if len(batch) >= size:
                yield batch
                batch = []
                append = batch.append
    except SettlementReportInvalid as invalid:
        error = invalid
    except UnicodeDecodeError:
        error = SettlementReportInvalid("the report is not valid UTF-8", line=_first_undecodable_line(stream))
    except csv.Error as unreadable:
        error = SettlementReportInvalid(f"unreadable CSV ({unreadable})", line=reader.line_num or 1)
    else:
        if batch:
            yield batch
        return
    if batch:
        yield batch
    raise error


def _header(reader) -> tuple[list[int], int]:
    """The position of each column of ``COLUMNS`` in the header, and how many columns it has."""
    try:
        header = next(reader)
    except StopIteration:
        raise SettlementReportInvalid("the report is empty: no header line") from None
    names = [name.strip() for name in header]
    if not any(names):
        raise SettlementReportInvalid("the header line is empty", line=1)
    positions = []
    for column in COLUMNS:
        if names.count(column) > 1:
            raise SettlementReportInvalid(f"column '{column}' appears more than once", line=1)
        if column not in names:
            raise SettlementReportInvalid(
                f"missing column '{column}' (the header must name {', '.join(COLUMNS)})", line=1
            )
        positions.append(names.index(column))
    return positions, len(names)


def _date(value: str, line: int) -> datetime.date:
    if _DATE.match(value):
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            pass
    raise SettlementReportInvalid(f"settlement_date '{value}' is not a date (YYYY-MM-DD)", line=line)


def _integer(value: str, name: str, line: int) -> None:
    if _INTEGER.match(value) is None:
        if re.fullmatch(r"-?[0-9]+", value):
            raise SettlementReportInvalid(f"{name} '{value}' is out of range", line=line)
        raise SettlementReportInvalid(f"{name} '{value}' is not an integer", line=line)


def _first_undecodable_line(stream: BinaryIO) -> int:
    """The number of the first line that is not UTF-8 (text is decoded ahead of the CSV reader, by blocks, so the
    reader's position does not say which line it was)."""
    stream.seek(0)
    decode = codecs.getincrementaldecoder("utf-8")().decode
    number = 0
    for number, raw in enumerate(stream, start=1):
        try:
            decode(raw)
        except UnicodeDecodeError:
            return number
    return number  # no line fails alone: the file ends in the middle of a character
