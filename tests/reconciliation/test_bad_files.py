"""A bad report fails the run with a message naming the line, and imports nothing at all."""

import datetime

import pytest
from django.core.management import CommandError, call_command

from reconciliation.models import ReconciliationException, ReconciliationRun, SettlementLine
from tests.reconciliation.helpers import (
    HEADER,
    Line,
    charge_line,
    nonzero,
    payment,
    reconcile,
    today,
    write_raw,
    write_report,
)

pytestmark = pytest.mark.django_db


def good(n: int) -> list[Line]:
    return [Line("charge", f"ch_{i}", f"pay_{i}", "USD", 1_000 + i) for i in range(n)]


def fail(path, day=None) -> str:
    day = day or today()
    with pytest.raises(CommandError) as caught:
        call_command("reconcile", "--date", day.isoformat(), "--file", str(path), "--json")
    message = str(caught.value)
    assert message.startswith(f"reconciliation of {day} failed: ")
    assert SettlementLine.objects.count() == 0
    assert ReconciliationException.objects.count() == 0
    run = ReconciliationRun.objects.get(settlement_date=day)
    assert run.status == "failed" and run.error and run.error in message and run.finished is not None
    return run.error


def with_line(tmp_path, bad: list, position: int = 5):
    """A report whose line ``position + 2`` (after the header and ``position`` good lines) is ``bad``."""
    day = today().isoformat()
    rows = [line.row(today()) for line in good(position)] + [[day, *bad]] + [line.row(today()) for line in good(3)]
    return write_report(tmp_path, today(), rows)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (["charge", "ch_x", "pay_x", "USD", "abc", "0", "0"], "line 7: amount 'abc' is not an integer"),
        (["charge", "ch_x", "pay_x", "USD", "1000", "2.75", "997"], "line 7: fee '2.75' is not an integer"),
        (["charge", "ch_x", "pay_x", "USD", "1000", "25", "1e3"], "line 7: net '1e3' is not an integer"),
        (["charge", "ch_x", "pay_x", "USD", " 1000", "25", "975"], "line 7: amount ' 1000' is not an integer"),
        (["charge", "ch_x", "pay_x", "USD", "", "25", "-25"], "line 7: amount '' is not an integer"),
        (
            ["charge", "ch_x", "pay_x", "USD", "99999999999999999999", "0", "0"],
            "line 7: amount '99999999999999999999' is out of range",
        ),
        (
            ["charge", "ch_x", "pay_x", "USD", "1000", "25", "1000"],
            "line 7: net 1000 is not amount − fee (1000 − 25 = 975)",
        ),
        (["charge", "ch_x", "pay_x", "XYZ", "1000", "25", "975"], "line 7: unknown currency 'XYZ'"),
        (["charge", "ch_x", "pay_x", "usd", "1000", "25", "975"], "line 7: unknown currency 'usd'"),
        (
            ["transfer", "tr_x", "pay_x", "USD", "1000", "0", "1000"],
            "line 7: unknown type 'transfer' (expected charge, dispute, dispute_reversal, payout, refund, return)",
        ),
        (["charge", "", "pay_x", "USD", "1000", "25", "975"], "line 7: processor_id is empty"),
        (["charge", "ch_x", "pay_x", "USD", "1000", "25"], "line 7: 7 fields, the header has 8"),
        (["charge", "ch_x", "pay_x", "USD", "1000", "25", "975", "extra"], "line 7: 9 fields, the header has 8"),
        (
            ["charge", "ch_x", "pay_" + "x" * 300, "USD", "1000", "25", "975"],
            "line 7: an id is longer than 255 characters",
        ),
        (["charge", "ch_\x00", "pay_x", "USD", "1000", "25", "975"], "line 7: an id contains a NUL character"),
    ],
)
def test_a_bad_line_names_itself_and_nothing_is_imported(merchant, tmp_path, bad, message):
    payment(merchant)  # a ledger event of the day, which would be missing_external if matching ever ran
    assert fail(with_line(tmp_path, bad)) == message


@pytest.mark.parametrize(
    ("date", "message"),
    [
        ("2026-13-01", "line 7: settlement_date '2026-13-01' is not a date (YYYY-MM-DD)"),
        ("24/11/2026", "line 7: settlement_date '24/11/2026' is not a date (YYYY-MM-DD)"),
        ("", "line 7: settlement_date '' is not a date (YYYY-MM-DD)"),
    ],
)
def test_a_bad_date(tmp_path, date, message):
    rows = [line.row(today()) for line in good(5)] + [[date, "charge", "ch_x", "pay_x", "USD", 100, 27, 73]]
    assert fail(write_report(tmp_path, today(), rows)) == message


def test_a_date_other_than_the_requested_day(tmp_path):
    other = today() - datetime.timedelta(days=1)
    rows = [line.row(today()) for line in good(2)] + [line.row(other) for line in good(1)]
    assert fail(write_report(tmp_path, today(), rows)) == (
        f"line 4: settlement_date {other.isoformat()} is not the requested day {today().isoformat()}"
    )


def test_a_report_of_another_day_is_refused_from_its_first_line(tmp_path):
    day = today() - datetime.timedelta(days=3)
    path = write_report(tmp_path, today(), good(3))
    assert fail(path, day=day).startswith(f"line 2: settlement_date {today().isoformat()} is not the requested day")


def test_an_empty_file(tmp_path):
    assert fail(write_raw(tmp_path, b"")) == "the report is empty: no header line"


def test_a_file_without_a_header(tmp_path):
    assert fail(write_raw(tmp_path, "\n")) == "line 1: the header line is empty"
    data_first = f"{today()},charge,ch_1,pay_1,USD,1000,25,975\n"
    assert fail(write_raw(tmp_path, data_first)).startswith("line 1: missing column 'settlement_date'")


def test_a_missing_column(tmp_path):
    header = ",".join(column for column in HEADER if column != "fee")
    message = fail(write_raw(tmp_path, f"{header}\n{today()},charge,ch_1,pay_1,USD,1000,975\n"))
    assert message.startswith("line 1: missing column 'fee'")


def test_a_blank_line(tmp_path):
    rows = [line.row(today()) for line in good(2)]
    text = ",".join(HEADER) + "\n" + ",".join(map(str, rows[0])) + "\n\n" + ",".join(map(str, rows[1])) + "\n"
    assert fail(write_raw(tmp_path, text)) == "line 3: blank line"


def test_a_file_that_is_not_utf8(tmp_path):
    text = (",".join(HEADER) + "\n").encode() + f"{today()},charge,ch_1,pay_\xe9,USD,1000,25,975\n".encode("latin-1")
    assert "not valid UTF-8" in fail(write_raw(tmp_path, text))


def test_a_file_that_does_not_exist(tmp_path):
    assert fail(tmp_path / "nowhere.csv").startswith(f"cannot read {tmp_path / 'nowhere.csv'}")


def test_a_bad_last_line_after_many_batches_imports_nothing(tmp_path):
    rows = [line.row(today()) for line in good(25_000)] + [
        [today().isoformat(), "charge", "ch", "pay", "USD", "x", "0", "0"]
    ]
    assert fail(write_report(tmp_path, today(), rows)) == "line 25002: amount 'x' is not an integer"


def test_a_failed_rerun_leaves_the_previous_import_in_place(merchant, tmp_path):
    paid = payment(merchant)
    first = reconcile(today(), write_report(tmp_path, today(), [charge_line(paid, amount=1)], name="first.csv"))
    assert nonzero(first) == {"amount_mismatch": 1}
    bad = with_line(tmp_path, ["charge", "ch_x", "pay_x", "USD", "abc", "0", "0"], position=0)
    with pytest.raises(CommandError, match="line 2: amount 'abc' is not an integer"):
        call_command("reconcile", "--date", today().isoformat(), "--file", str(bad))
    run = ReconciliationRun.objects.get(settlement_date=today())
    assert run.status == "failed" and run.error == "line 2: amount 'abc' is not an integer"
    assert SettlementLine.objects.filter(run=run).count() == 1  # the first import, untouched
    assert ReconciliationException.objects.get().type == "amount_mismatch"


def test_an_invalid_date_argument(tmp_path):
    with pytest.raises(CommandError, match="not a day written YYYY-MM-DD"):
        call_command("reconcile", "--date", "24-11-2026", "--file", str(tmp_path / "x.csv"))
    assert ReconciliationRun.objects.count() == 0
