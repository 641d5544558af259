"""Reading the report: what a line becomes, and the processor's expected fees (no database)."""

import datetime
import io

import pytest

from reconciliation.errors import ReportInvalid
from reconciliation.report import ProcessorFees, read_batches

DAY = datetime.date(2026, 11, 24)
FEES = ProcessorFees(bps=250, fixed=25, dispute=1500)
HEADER = "settlement_date,type,processor_id,reference,currency,amount,fee,net\n"


def read(text: str, **kwargs) -> list:
    return [row for batch in read_batches(io.BytesIO(text.encode()), day=DAY, fees=FEES, **kwargs) for row in batch]


def test_the_documented_example():
    rows = read(
        HEADER
        + (
            "2026-11-24,charge,ch_1,pay_A,USD,10000,275,9725\n"
            "2026-11-24,refund,rf_2,re_B,USD,-2500,0,-2500\n"
            "2026-11-24,charge,ch_3,pay_C,USD,4000,125,3875\n"
            "2026-11-24,dispute,dsp_4,pay_C,USD,-4000,1500,-5500\n"
            "2026-11-24,dispute_reversal,dsp_4,pay_C,USD,4000,0,4000\n"
        )
    )
    assert rows == [
        (2, "charge", "ch_1", "pay_A", "pay_A", "USD", 10000, 275, 9725, 275),
        (3, "refund", "rf_2", "re_B", "re_B", "USD", -2500, 0, -2500, 0),
        (4, "charge", "ch_3", "pay_C", "pay_C", "USD", 4000, 125, 3875, 125),
        (5, "dispute", "dsp_4", "pay_C", "dsp_4", "USD", -4000, 1500, -5500, 1500),
        (6, "dispute_reversal", "dsp_4", "pay_C", "dsp_4", "USD", 4000, 0, 4000, 0),
    ]


@pytest.mark.parametrize(("amount", "fee"), [(10_000, 275), (1_020, 51), (1_060, 51), (1_061, 52), (0, 25)])
def test_charge_fees_round_half_to_even_as_the_sandbox_does(amount, fee):
    assert FEES.expected("charge", amount) == fee


def test_columns_in_another_order_and_extra_columns_are_read_by_name():
    rows = read(
        "net,fee,amount,currency,reference,processor_id,type,settlement_date,batch\n"
        "975,25,1000,EUR,pay_1,ch_1,charge,2026-11-24,7\n"
    )
    assert rows == [(2, "charge", "ch_1", "pay_1", "pay_1", "EUR", 1000, 25, 975, 50)]


def test_a_byte_order_mark_and_quoted_fields():
    rows = read("\ufeff" + HEADER + '2026-11-24,charge,"ch,1","pay ""q""",USD,100,27,73\n')
    assert rows[0][2:5] == ("ch,1", 'pay "q"', 'pay "q"')


def test_batches():
    text = HEADER + "".join(f"2026-11-24,refund,rf_{i},re_{i},USD,-1,0,-1\n" for i in range(25))
    sizes = [len(batch) for batch in read_batches(io.BytesIO(text.encode()), day=DAY, fees=FEES, batch_size=10)]
    assert sizes == [10, 10, 5]


def test_a_header_only_report_has_no_lines():
    assert read(HEADER) == []


def test_the_error_names_the_line():
    with pytest.raises(ReportInvalid) as caught:
        read(HEADER + "2026-11-24,charge,ch_1,pay_1,USD,10,0,10\n2026-11-24,charge,ch_1,pay_1,USD,abc,0,0\n")
    assert (str(caught.value), caught.value.line) == ("line 3: amount 'abc' is not an integer", 3)


def test_an_unterminated_quote_is_unreadable():
    with pytest.raises(ReportInvalid, match="line 2: unreadable CSV"):
        read(HEADER + '2026-11-24,charge,"ch_1,pay_1,USD,10,0,10\n')
