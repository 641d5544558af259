"""Reconciliation does not depend on the sandbox's CSV: an acquirer with another file format is reconciled through
its own adapter, the same service, the same checks and the same exceptions."""

import datetime
import hashlib
import json

import pytest
from django.core.management import CommandError, call_command

from gateways.base import SettlementLine, SettlementReportInvalid
from reconciliation.models import ReconciliationException, ReconciliationRun
from reconciliation.models import SettlementLine as StagedLine
from tests.reconciliation.helpers import LinesReport, nonzero, payment, reconcile, refund, today

pytestmark = pytest.mark.django_db

KINDS = {"CAPTURE": "charge", "REFUND": "refund", "CHARGEBACK": "dispute"}


class JsonLinesAcquirer:
    """A made-up acquirer's adapter, as small as an edge may be: its report is one JSON object a line, with its
    own words (``CAPTURE``…), dates written DD.MM.YYYY and no net (it is gross − commission)."""

    def __init__(self, name: str):
        self.name = name

    def read_settlement_report(self, *, file) -> LinesReport:
        data = file.read()
        lines = []
        for number, text in enumerate(data.decode().splitlines(), start=1):
            try:
                item = json.loads(text)
                day, month, year = (int(part) for part in item["booked"].split("."))
                gross, commission = int(item["gross"]), int(item["commission"])
            except (ValueError, KeyError, TypeError) as error:
                raise SettlementReportInvalid(f"unreadable entry ({error})", line=number) from None
            lines.append(
                SettlementLine(
                    number,
                    datetime.date(year, month, day),
                    KINDS.get(item["kind"], item["kind"]),
                    item["psp_reference"],
                    item["merchant_reference"],
                    item["currency"],
                    gross,
                    commission,
                    gross - commission,
                )
            )
        return LinesReport(lines, sha256=hashlib.sha256(data).hexdigest())


@pytest.fixture
def other_acquirer(settings):
    """Processor ``jsonpay``: its adapter above, its own fees (1 % + 10, disputes 700)."""
    settings.PROCESSORS = {
        **settings.PROCESSORS,
        "jsonpay": {
            **settings.PROCESSORS["sandbox"],
            "adapter": f"{__name__}.JsonLinesAcquirer",
            "fee_bps": 100,
            "fee_fixed": 10,
            "dispute_fee": 700,
        },
    }
    return "jsonpay"


def entry(kind: str, psp_reference: str, merchant_reference: str, gross: int | str, commission: int) -> dict:
    return {
        "booked": today().strftime("%d.%m.%Y"),
        "kind": kind,
        "psp_reference": psp_reference,
        "merchant_reference": merchant_reference,
        "currency": "EUR",
        "gross": gross,
        "commission": commission,
    }


def write(tmp_path, entries: list[dict]):
    path = tmp_path / "settlement.jsonl"
    path.write_text("".join(json.dumps(item) + "\n" for item in entries))
    return path


def test_a_day_in_another_format_is_matched_with_the_acquirers_own_fees(merchant, tmp_path, other_acquirer):
    paid = payment(merchant, 10_000, currency="EUR", processor=other_acquirer)
    refunded = refund(paid, 2_500)
    wrong_fee = payment(merchant, 5_000, currency="EUR", processor=other_acquirer)
    unknown = payment(merchant, 1_000, currency="EUR", processor="sandbox")  # another acquirer's: not this report's
    path = write(
        tmp_path,
        [
            entry("CAPTURE", paid.processor_charge_id, paid.id, 10_000, 110),
            entry("REFUND", refunded.processor_refund_id, refunded.id, -2_500, 0),
            entry("CAPTURE", wrong_fee.processor_charge_id, wrong_fee.id, 5_000, 75),  # 1 % + 10 is 60
        ],
    )

    result = reconcile(today(), path, processor=other_acquirer)

    assert result["matched"] == 2
    assert nonzero(result) == {"fee_mismatch": 1}
    assert ReconciliationException.objects.get().match_key == wrong_fee.id
    run = ReconciliationRun.objects.get()
    assert (run.processor, run.lines, run.report_sha256) == (
        other_acquirer,
        3,
        hashlib.sha256(path.read_bytes()).hexdigest(),
    )
    assert unknown.id not in set(StagedLine.objects.values_list("reference", flat=True))


def test_reconciliations_checks_apply_to_every_format(merchant, tmp_path, other_acquirer):
    path = write(
        tmp_path,
        [
            entry("CAPTURE", "ch_1", "pay_1", 1_000, 20),
            entry("PAYOUT", "po_1", "pay_1", 1_000, 0),
        ],
    )
    with pytest.raises(CommandError, match="line 2: unknown type 'PAYOUT'"):
        call_command("reconcile", "--date", today().isoformat(), "--processor", other_acquirer, "--file", str(path))
    assert ReconciliationRun.objects.get().error.startswith("line 2: unknown type 'PAYOUT'")
    assert StagedLine.objects.count() == 0


def test_the_adapters_own_refusal_fails_the_run_by_its_line(merchant, tmp_path, other_acquirer):
    path = write(tmp_path, [entry("CAPTURE", "ch_1", "pay_1", "ten", 20)])
    with pytest.raises(CommandError, match="line 1: unreadable entry"):
        call_command("reconcile", "--date", today().isoformat(), "--processor", other_acquirer, "--file", str(path))
    assert ReconciliationRun.objects.get().status == "failed"
