"""The sandbox adapter reads its settlement report's CSV into boundary lines, and names every line it cannot read.

No sandbox process and no database: the parser alone (``gateways.sandbox_acquirer.settlement``).
"""

import datetime
import hashlib
import io

import pytest

from gateways.base import SettlementLine, SettlementReportInvalid
from gateways.sandbox_acquirer.client import SandboxProcessor
from gateways.sandbox_acquirer.settlement import report_from_bytes, report_from_file

DAY = datetime.date(2026, 11, 24)
HEADER = "settlement_date,type,processor_id,reference,currency,amount,fee,net\n"
GOOD = "2026-11-24,charge,ch_1,pay_1,USD,1000,50,950\n"


def lines(text: str | bytes, size: int = 100) -> list[SettlementLine]:
    data = text.encode() if isinstance(text, str) else text
    return [line for batch in report_from_bytes(data).batches(size=size) for line in batch]


def problem(text: str | bytes) -> tuple[str, int | None]:
    with pytest.raises(SettlementReportInvalid) as caught:
        lines(text)
    return str(caught.value), caught.value.line


def test_the_documented_example():
    found = lines(
        HEADER + "2026-11-24,charge,ch_1,pay_A,USD,10000,275,9725\n"
        "2026-11-24,refund,rf_2,re_B,USD,-2500,0,-2500\n"
        "2026-11-24,dispute,dsp_4,pay_C,USD,-4000,1500,-5500\n"
        "2026-11-24,dispute_reversal,dsp_4,pay_C,USD,4000,0,4000\n"
    )

    assert found == [
        SettlementLine(2, DAY, "charge", "ch_1", "pay_A", "USD", 10000, 275, 9725),
        SettlementLine(3, DAY, "refund", "rf_2", "re_B", "USD", -2500, 0, -2500),
        SettlementLine(4, DAY, "dispute", "dsp_4", "pay_C", "USD", -4000, 1500, -5500),
        SettlementLine(5, DAY, "dispute_reversal", "dsp_4", "pay_C", "USD", 4000, 0, 4000),
    ]
    assert found[0].amount == 10000 and found[0].settlement_date == DAY


def test_what_a_line_means_is_not_the_parsers_business():
    # An unknown type or currency, another day, a wrong net, an empty id: read as written, judged by reconciliation.
    assert lines(HEADER + "2026-11-23,transfer,,pay_1,usd,1000,50,1\n") == [
        SettlementLine(2, datetime.date(2026, 11, 23), "transfer", "", "pay_1", "usd", 1000, 50, 1)
    ]


def test_columns_in_another_order_and_extra_columns_are_read_by_name():
    found = lines(
        "net,fee,amount,currency,reference,processor_id,type,settlement_date,batch\n"
        "975,25,1000,EUR,pay_1,ch_1,charge,2026-11-24,7\n"
    )
    assert found == [SettlementLine(2, DAY, "charge", "ch_1", "pay_1", "EUR", 1000, 25, 975)]


def test_a_byte_order_mark_and_quoted_fields_over_two_physical_lines():
    found = lines("\ufeff" + HEADER + '2026-11-24,charge,"ch,1","pay ""q""\nx",USD,100,27,73\n' + GOOD)
    assert (found[0].processor_id, found[0].reference) == ("ch,1", 'pay "q"\nx')
    assert [line.line for line in found] == [3, 4]  # where each line ends in the file


def test_batches_and_a_header_only_report():
    text = HEADER + "".join(f"2026-11-24,refund,rf_{i},re_{i},USD,-1,0,-1\n" for i in range(25))
    assert [len(batch) for batch in report_from_bytes(text.encode()).batches(size=10)] == [10, 10, 5]
    assert lines(HEADER) == []


def test_a_report_reads_again_from_its_start():
    report = report_from_bytes((HEADER + GOOD).encode())
    assert list(report.batches(size=10)) == list(report.batches(size=10))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("2026-11-24,charge,ch_x,pay_x,USD,abc,0,0", "line 3: amount 'abc' is not an integer"),
        ("2026-11-24,charge,ch_x,pay_x,USD,1000,2.75,997", "line 3: fee '2.75' is not an integer"),
        ("2026-11-24,charge,ch_x,pay_x,USD,1000,25,1e3", "line 3: net '1e3' is not an integer"),
        ("2026-11-24,charge,ch_x,pay_x,USD, 1000,25,975", "line 3: amount ' 1000' is not an integer"),
        ("2026-11-24,charge,ch_x,pay_x,USD,+1000,25,975", "line 3: amount '+1000' is not an integer"),
        ("2026-11-24,charge,ch_x,pay_x,USD,1_000,25,975", "line 3: amount '1_000' is not an integer"),
        ("2026-11-24,charge,ch_x,pay_x,USD,,25,-25", "line 3: amount '' is not an integer"),
        ("2026-11-24,charge,ch_x,pay_x,USD,1000,25,9" + "9" * 18, f"line 3: net '9{'9' * 18}' is out of range"),
        (
            "2026-13-01,charge,ch_x,pay_x,USD,1000,25,975",
            "line 3: settlement_date '2026-13-01' is not a date (YYYY-MM-DD)",
        ),
        ("20261124,charge,ch_x,pay_x,USD,1000,25,975", "line 3: settlement_date '20261124' is not a date (YYYY-MM-DD)"),
        (",charge,ch_x,pay_x,USD,1000,25,975", "line 3: settlement_date '' is not a date (YYYY-MM-DD)"),
        ("2026-11-24,charge,ch_x,pay_x,USD,1000,25", "line 3: 7 fields, the header has 8"),
        ("2026-11-24,charge,ch_x,pay_x,USD,1000,25,975,extra", "line 3: 9 fields, the header has 8"),
        ("", "line 3: blank line"),
    ],
)
def test_a_line_it_cannot_read_is_named(line, message):
    assert problem(HEADER + GOOD + line + "\n" + GOOD) == (message, 3)


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("", "the report is empty: no header line", None),
        ("\n" + GOOD, "line 1: the header line is empty", 1),
        (
            GOOD,
            "line 1: missing column 'settlement_date' (the header must name settlement_date, type, "
            "processor_id, reference, currency, amount, fee, net)",
            1,
        ),
        (
            HEADER.replace(",fee", ""),
            "line 1: missing column 'fee' (the header must name settlement_date, type, "
            "processor_id, reference, currency, amount, fee, net)",
            1,
        ),
        (HEADER.replace(",net", ",fee"), "line 1: column 'fee' appears more than once", 1),
    ],
)
def test_a_header_it_cannot_read(text, message, line):
    assert problem(text) == (message, line)


def test_an_unterminated_quote_is_unreadable():
    message, line = problem(HEADER + '2026-11-24,charge,"ch_1,pay_1,USD,10,0,10\n')
    assert message.startswith("line 2: unreadable CSV") and line == 2


def test_a_file_that_is_not_utf8():
    message, line = problem(HEADER.encode() + b"2026-11-24,charge,ch_1,pay_\xe9,USD,1000,25,975\n")
    assert message == "line 2: the report is not valid UTF-8" and line == 2


def test_the_lines_before_a_bad_one_are_yielded_before_the_error():
    # So that a reader judging what the lines mean still finds the first bad line, whichever side it is bad for.
    text = HEADER + GOOD * 3 + "2026-11-24,charge,ch_x,pay_x,USD,abc,0,0\n" + GOOD
    batches = report_from_bytes(text.encode()).batches(size=2)

    assert [line.line for line in next(batches)] == [2, 3]
    assert [line.line for line in next(batches)] == [4]
    with pytest.raises(SettlementReportInvalid, match="line 5: amount 'abc'"):
        next(batches)


def test_a_report_from_a_file_is_hashed_and_the_file_left_open(tmp_path):
    data = (HEADER + GOOD).encode()
    path = tmp_path / "report.csv"
    path.write_bytes(data)
    with open(path, "rb") as file:
        report = SandboxProcessor("sandbox").read_settlement_report(file=file)
        assert report.sha256 == hashlib.sha256(data).hexdigest() == report_from_bytes(data).sha256
        assert [line.reference for batch in report.batches(size=10) for line in batch] == ["pay_1"]
        assert not file.closed


def test_a_stream_is_read_from_its_start():
    stream = io.BytesIO((HEADER + GOOD).encode())
    stream.seek(5)
    assert len(list(report_from_file(stream).batches(size=10))[0]) == 1
