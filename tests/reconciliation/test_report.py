"""Judging the report's lines: what a line becomes in the staging table, what is refused, and the expected fees.

The lines come straight from the boundary (``gateways.base.SettlementLine``), as any acquirer's adapter hands
them over: no file, no CSV (the sandbox's CSV is tests/gateways/test_sandbox_settlement_report.py). No database.
"""

import datetime

import pytest

from gateways.base import SettlementLine, SettlementReportInvalid
from reconciliation.errors import ReportInvalid
from reconciliation.report import ProcessorFees, ReportReader
from tests.reconciliation.helpers import LinesReport

DAY = datetime.date(2026, 11, 24)
FEES = ProcessorFees(bps=250, fixed=25, dispute=1500)


def line(number: int, kind: str, processor_id: str, reference: str, amount: int, fee: int) -> SettlementLine:
    return SettlementLine(number, DAY, kind, processor_id, reference, "USD", amount, fee, amount - fee)


def read(lines, **kwargs) -> list:
    reader = ReportReader(LinesReport(lines), day=DAY, fees=FEES, **kwargs)
    return [row for batch in reader.batches() for row in batch]


def refused(lines) -> tuple[str, int | None]:
    with pytest.raises(ReportInvalid) as caught:
        read(lines)
    return str(caught.value), caught.value.line


def test_the_documented_example_becomes_staging_rows_with_match_keys_and_expected_fees():
    rows = read(
        [
            line(2, "charge", "ch_1", "pay_A", 10000, 275),
            line(3, "refund", "rf_2", "re_B", -2500, 0),
            line(4, "charge", "ch_3", "pay_C", 4000, 125),
            line(5, "dispute", "dsp_4", "pay_C", -4000, 1500),
            line(6, "dispute_reversal", "dsp_4", "pay_C", 4000, 0),
            line(7, "return", "ch_3", "pay_C", -4000, 0),
        ]
    )
    assert rows == [
        (2, "charge", "ch_1", "pay_A", "pay_A", "USD", 10000, 275, 9725, 275),
        (3, "refund", "rf_2", "re_B", "re_B", "USD", -2500, 0, -2500, 0),
        (4, "charge", "ch_3", "pay_C", "pay_C", "USD", 4000, 125, 3875, 125),
        (5, "dispute", "dsp_4", "pay_C", "dsp_4", "USD", -4000, 1500, -5500, 1500),
        (6, "dispute_reversal", "dsp_4", "pay_C", "dsp_4", "USD", 4000, 0, 4000, 0),
        (7, "return", "ch_3", "pay_C", "pay_C", "USD", -4000, 0, -4000, 0),
    ]


@pytest.mark.parametrize(("amount", "fee"), [(10_000, 275), (1_020, 51), (1_060, 51), (1_061, 52), (0, 25)])
def test_charge_fees_round_half_to_even_as_the_sandbox_does(amount, fee):
    assert FEES.expected("charge", amount) == fee


def test_the_expected_fee_is_the_processors_own_not_what_the_line_says():
    rows = read([line(2, "charge", "ch_1", "pay_1", 1000, 999)])
    assert rows[0][-2:] == (1, 50)  # net as stated, the fee it should have been


def test_batches_follow_the_reports():
    rows = [line(i + 2, "refund", f"rf_{i}", f"re_{i}", -1, 0) for i in range(25)]
    reader = ReportReader(LinesReport(rows), day=DAY, fees=FEES, batch_size=10)
    assert [len(batch) for batch in reader.batches()] == [10, 10, 5]


def test_a_payout_line_is_staged_by_our_payout_id_with_no_fee():
    reader = ReportReader(
        LinesReport(
            [
                line(2, "charge", "ch_1", "pay_1", 1000, 50),
                line(3, "payout", "po_1", "po_platform_1", -900, 0),
                line(4, "payout", "po_1", "po_platform_1", -900, 0),
            ]
        ),
        day=DAY,
        fees=FEES,
    )
    rows = [row for batch in reader.batches() for row in batch]
    assert [row[1] for row in rows] == ["charge", "payout", "payout"]
    # (processor_id, reference, match key) and the fee expected: none.
    assert (rows[1][2:5], rows[1][-1]) == (("po_1", "po_platform_1", "po_platform_1"), 0)
    assert reader.repeated_keys == {("payout", "po_platform_1")}
    assert refused([line(2, "payout", "po_1", "po_platform_1", -900, 0)._replace(net=-800)]) == (
        "line 2: net -800 is not amount − fee (-900 − 0 = -900)",
        2,
    )


def test_an_empty_report_has_no_rows():
    assert read([]) == []


def test_keys_seen_twice_are_suspects():
    reader = ReportReader(
        LinesReport(
            [
                line(2, "charge", "ch_1", "pay_1", 1000, 50),
                line(3, "charge", "ch_2", "pay_1", 1000, 50),  # another charge line for the same payment
                line(4, "dispute", "dsp_1", "pay_1", -1000, 1500),
                line(5, "dispute", "dsp_2", "pay_1", -1000, 1500),  # disputes match by processor id: no suspect
            ]
        ),
        day=DAY,
        fees=FEES,
    )
    list(reader.batches())
    assert reader.repeated_keys == {("charge", "pay_1")}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"settlement_date": datetime.date(2026, 11, 23)},
            "settlement_date 2026-11-23 is not the requested day 2026-11-24",
        ),
        (
            {"type": "transfer"},
            "unknown type 'transfer' (expected charge, dispute, dispute_reversal, payout, refund, return)",
        ),
        ({"processor_id": ""}, "processor_id is empty"),
        ({"reference": ""}, "reference is empty"),
        ({"reference": "pay_" + "x" * 300}, "an id is longer than 255 characters"),
        ({"processor_id": "ch_\x00"}, "an id contains a NUL character"),
        ({"currency": "XYZ"}, "unknown currency 'XYZ'"),
        ({"currency": "usd"}, "unknown currency 'usd'"),
        ({"amount": 10**16, "net": 10**16 - 25}, "amount '10000000000000000' is out of range"),
        ({"amount": 100, "fee": -(10**16), "net": 10**16 + 100}, "fee '-10000000000000000' is out of range"),
        ({"net": 1000}, "net 1000 is not amount − fee (1000 − 25 = 975)"),
    ],
)
def test_a_line_that_cannot_be_right_is_refused_by_its_number(changes, message):
    lines = [
        line(2, "charge", "ch_1", "pay_1", 1000, 25),
        line(3, "charge", "ch_2", "pay_2", 1000, 25)._replace(**changes),
    ]
    assert refused(lines) == (f"line 3: {message}", 3)


def test_the_first_bad_line_is_named_whichever_side_finds_it():
    class BadFromLineFour(LinesReport):
        """An adapter that cannot read line 4: it hands over the lines before it, then says so."""

        def batches(self, *, size: int):
            yield self.lines
            raise SettlementReportInvalid("amount 'abc' is not an integer", line=4)

    good = line(2, "charge", "ch_1", "pay_1", 1000, 25)
    unknown_type = line(3, "transfer", "tr_1", "pay_1", 1000, 0)
    reader = ReportReader(BadFromLineFour([good, unknown_type]), day=DAY, fees=FEES)
    with pytest.raises(ReportInvalid, match="line 3: unknown type 'transfer'"):
        list(reader.batches())

    reader = ReportReader(BadFromLineFour([good]), day=DAY, fees=FEES)
    with pytest.raises(SettlementReportInvalid, match="line 4: amount 'abc' is not an integer"):
        list(reader.batches())
