"""Whole days through the real sandbox processor: its report fetched by the command, matched against our ledger."""

import time

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction

from core.models import AuditEntry
from gateways.base import SettlementLine
from ledger import posting_rules
from ledger.models import JournalEntry
from payments import dispute_services, refund_services
from payments.models import Payment, PaymentTransition
from payments.services import payment_capture
from payouts import payout_services
from payouts.models import Payout
from reconciliation.models import ReconciliationException, ReconciliationRun
from tests.payments.helpers import create_payment, post
from tests.processors import configure_processor
from tests.reconciliation.helpers import nonzero, reconcile, today

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def paid(api_client, amount: int, token: str = "tok_visa", **fields) -> Payment:
    response = create_payment(api_client, token, amount=amount, confirm=True, **fields)
    assert response.status_code == 201, response.content
    return Payment.objects.get(pk=response.json()["id"])


def wait_for(condition, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def settlement_lines(processor) -> list[SettlementLine]:
    return [line for batch in processor.settlement_report(day=today()).batches(size=1000) for line in batch]


def test_a_full_day_through_the_sandbox_matches_with_no_exception(api_client, merchant, fresh_sandbox, processor):
    # Card payments: plain, one whose fee rounds half to even, one partly refunded, one captured in part.
    paid(api_client, 10_000)
    paid(api_client, 1_060)
    refunded = paid(api_client, 8_000)
    refund = refund_services.refund_create(
        merchant=merchant, payment=refunded, amount=2_500, reason=None, actor="api:test"
    )
    assert refund.status == "succeeded"
    manual = paid(api_client, 5_000, capture_method="manual")
    assert payment_capture(payment=manual, amount=3_000, actor="api:test").status == "succeeded"
    # A dispute, opened by the processor, answered with evidence and won.
    disputed = paid(api_client, 4_000)
    answer = processor.open_dispute(processor_charge_id=disputed.processor_charge_id, reason="fraudulent")
    dispute = dispute_services.dispute_apply_processor_dispute(answer=answer, actor="processor:test")
    evidence = {"uncategorized_text": "winning_evidence: delivered"}
    dispute_services.dispute_submit_evidence(dispute=dispute, actor="api:test", evidence=evidence)

    def decided():
        current = processor.retrieve_dispute(processor_dispute_id=answer.processor_id)
        return current if current.status == "won" else None

    won = wait_for(decided)
    assert dispute_services.dispute_apply_processor_dispute(answer=won, actor="processor:test").status == "won"

    lines = settlement_lines(processor)
    assert len(lines) == 8  # 5 charges, 1 refund, 1 dispute, 1 reversal
    result = reconcile(today())
    assert result["matched"] == 8 and nonzero(result) == {}
    run = ReconciliationRun.objects.get(settlement_date=today())
    assert (run.source, run.lines, run.internal_items, run.status) == ("processor", 8, 8, "succeeded")
    assert ReconciliationException.objects.count() == 0


def test_a_lost_answer_is_settled_by_the_report(api_client, merchant, fresh_sandbox, processor):
    response = create_payment(api_client, "tok_timeout", amount=4_200, confirm=True)
    lost = Payment.objects.get(pk=response.json()["id"])
    assert lost.status == "processing"  # the processor charged; its answer never reached us
    assert not JournalEntry.objects.filter(source=lost.id).exists()
    assert len(settlement_lines(processor)) == 1

    result = reconcile(today())
    assert (result["matched"], nonzero(result)) == (0, {"status_mismatch": 1})
    lost.refresh_from_db()
    assert (lost.status, lost.amount_captured) == ("succeeded", 4_200)
    assert lost.processor_charge_id == processor.charges_for(reference=lost.id)[0].processor_id
    exception = ReconciliationException.objects.get()
    assert (exception.type, exception.status, exception.resolution) == ("status_mismatch", "resolved", "auto_resolved")
    assert exception.ledger_entry == JournalEntry.objects.get(source=lost.id, type="charge")
    assert exception.resolved_at is not None and exception.resolved_by is None
    audit = AuditEntry.objects.get(action="reconciliation_exception.auto_resolve")
    assert (audit.actor, audit.object_id, audit.after["payment_status"]) == (
        "system:reconciliation",
        str(exception.pk),
        "succeeded",
    )
    assert (
        PaymentTransition.objects.filter(payment=lost, to_status="succeeded", actor="system:reconciliation").count()
        == 1
    )
    assert ReconciliationRun.objects.get().auto_resolved == 1
    call_command("ledger_check")

    # Again: the line matches the entry now posted; nothing new, nothing posted twice.
    again = reconcile(today())
    assert (again["matched"], nonzero(again)) == (1, {})
    assert ReconciliationException.objects.get().pk == exception.pk
    assert JournalEntry.objects.filter(source=lost.id, type="charge").count() == 1
    call_command("ledger_check")


def test_injected_differences_from_the_sandbox(api_client, merchant, fresh_sandbox, processor):
    good = paid(api_client, 2_000)
    line = {
        "date": today().isoformat(),
        "type": "charge",
        "processor_id": good.processor_charge_id,
        "reference": good.id,
        "currency": "USD",
        "amount": 2_000,
        "fee": 75,
    }
    assert fresh_sandbox.request("POST", "/v1/control/settlements/inject", json=line).status_code == 201
    stranger = {**line, "processor_id": "ch_unknown", "reference": "pay_unknown", "fee": 75}
    assert fresh_sandbox.request("POST", "/v1/control/settlements/inject", json=stranger).status_code == 201
    result = reconcile(today())
    assert (result["matched"], nonzero(result)) == (0, {"duplicate_external": 1, "missing_internal": 1})


def test_a_day_of_payouts_through_the_sandbox_matches_and_settles_a_lost_paid_webhook(
    api_client, merchant, fresh_sandbox, processor
):
    """Three payouts sent to the sandbox (whose webhooks reach nobody here): one we learn is paid by asking, one
    whose ``payout.paid`` we never hear of, one to a closed account that fails. The report has the two paid."""
    us = {"country": "US", "holder_name": "Jane Doe", "routing_number": "110000000"}

    def account(number: str) -> str:
        body = {"currency": "USD", "bank_account": {**us, "account_number": number}}
        response = post(api_client, "/api/v1/external_accounts", body)
        assert response.status_code == 201, response.content
        return response.json()["id"]

    def pay_out(amount: int, destination: str) -> Payout:
        body = {"amount": amount, "currency": "USD", "destination": destination}
        response = post(api_client, "/api/v1/payouts", body)
        assert response.status_code == 201, response.content
        sent = payout_services.payout_send(payout_id=response.json()["id"])
        assert sent.status == "in_transit"
        return sent

    with transaction.atomic():
        posting_rules.manual_adjustment(
            adjustment_id="recon-payouts", merchant=merchant, amount=20_000, currency="USD", memo="test funds"
        )
    good, closed = account("000123456789"), account("000123451116")
    asked, lost, failed = pay_out(6_000, good), pay_out(3_000, good), pay_out(1_000, closed)
    for sent in (asked, lost, failed):
        at_processor = sent.processor_payout_id
        wait_for(lambda at=at_processor: processor.retrieve_payout(processor_payout_id=at).status != "in_transit")
    assert payout_services.payout_resolve(payout_id=asked.id).status == "paid"
    assert payout_services.payout_resolve(payout_id=failed.id).status == "failed"
    assert Payout.objects.get(pk=lost.id).status == "in_transit"

    lines = [line for line in settlement_lines(processor) if line.type == "payout"]
    assert sorted((line.reference, line.amount) for line in lines) == sorted([(asked.id, -6_000), (lost.id, -3_000)])
    result = reconcile(today())
    assert (result["matched"], nonzero(result)) == (1, {"status_mismatch": 1})
    exception = ReconciliationException.objects.get()
    assert (exception.match_key, exception.resolution) == (lost.id, "auto_resolved")
    assert Payout.objects.get(pk=lost.id).status == "paid"
    # Again: both lines match, nothing is posted twice.
    again = reconcile(today())
    assert (again["matched"], nonzero(again)) == (2, {})
    assert JournalEntry.objects.filter(type="payout", event_key__startswith="payout.paid:").count() == 2
    call_command("ledger_check")


def test_the_processor_unreachable_fails_the_run(settings, db):
    configure_processor(settings, base_url="http://127.0.0.1:9")
    configure_processor(settings, connect_timeout=0.5)
    with pytest.raises(CommandError, match="could not be fetched"):
        call_command("reconcile", "--date", today().isoformat())
    run = ReconciliationRun.objects.get()
    assert run.status == "failed" and "could not be fetched" in run.error


def test_each_processors_day_is_reconciled_against_its_own_report_and_fees(
    api_client, other_api_client, merchant, fresh_sandbox, fresh_sandbox_eu
):
    # Given USD payments with sandbox (the default) and EUR payments routed to sandbox_eu (other fees: 180 bps + 20)
    from payments.models import RoutingRule

    RoutingRule.objects.create(priority=1, currency="EUR", processor="sandbox_eu")
    on_sandbox = [paid(api_client, amount) for amount in (10_000, 1_060)]
    on_eu = [paid(other_api_client, amount, currency="EUR") for amount in (7_000, 2_550, 999)]
    assert {p.processor for p in on_sandbox} == {"sandbox"} and {p.processor for p in on_eu} == {"sandbox_eu"}
    # When each processor's day is reconciled
    sandbox_day = reconcile(today(), processor="sandbox")
    eu_day = reconcile(today(), processor="sandbox_eu")
    # Then each matches its own payments only, with no exception: the other's payments are not "missing"
    assert (sandbox_day["matched"], nonzero(sandbox_day)) == (2, {})
    assert (eu_day["matched"], nonzero(eu_day)) == (3, {})
    runs = {run.processor: run for run in ReconciliationRun.objects.all()}
    assert set(runs) == {"sandbox", "sandbox_eu"} and {run.settlement_date for run in runs.values()} == {today()}
    # And a re-run of one processor's day replaces its own run only
    assert nonzero(reconcile(today(), processor="sandbox_eu")) == {}
    assert ReconciliationRun.objects.count() == 2
