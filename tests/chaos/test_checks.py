"""The simulator's judgement of charges across the two acquirers (chaos.checks), on hand-made rows."""

from chaos.checks import judge_all, payout_agreement, payout_events, per_acquirer, processor_agreement
from chaos.clients import Call


def payment(payment_id: str, *, processor: str, failed_over_from: str = "", captured: int = 1000) -> dict:
    return {
        "id": payment_id,
        "status": "succeeded",
        "amount": 1000,
        "amount_captured": captured,
        "amount_refunded": 0,
        "processor": processor,
        "failed_over_from": failed_over_from,
    }


def charge(charge_id: str, reference: str, acquirer: str, *, captured: int = 1000) -> dict:
    return {
        "id": charge_id,
        "reference": reference,
        "status": "succeeded",
        "amount": 1000,
        "amount_captured": captured,
        "amount_refunded": 0,
        "acquirer": acquirer,
    }


def test_a_payment_charged_once_at_its_processor_is_in_order():
    payments = {"pay_1": payment("pay_1", processor="sandbox_eu", failed_over_from="sandbox")}
    agreement = processor_agreement(payments, [charge("ch_1", "pay_1", "sandbox_eu")])
    assert agreement["double_charges"] == agreement["wrong_acquirer"] == agreement["disagreements"] == []


def test_a_charge_on_each_acquirer_is_a_double_charge_even_though_each_holds_one():
    payments = {"pay_1": payment("pay_1", processor="sandbox_eu", failed_over_from="sandbox", captured=1000)}
    charges = [charge("ch_a", "pay_1", "sandbox"), charge("ch_b", "pay_1", "sandbox_eu")]
    agreement = processor_agreement(payments, charges)
    assert [d["payment"] for d in agreement["double_charges"]] == ["pay_1"]
    assert agreement["double_charges"][0]["charges"][0][0] == "sandbox"
    # The acquirer it left holds a charge: the failover was not safe
    assert [w["payment"] for w in agreement["wrong_acquirer"]] == ["pay_1"]
    # And the amounts no longer agree (2000 captured at the acquirers, 1000 on the platform)
    assert agreement["disagreements"][0]["problems"] == ["captured: platform 1000, processor 2000"]


def test_a_charge_held_by_another_acquirer_than_the_payments_processor_is_found():
    payments = {"pay_1": payment("pay_1", processor="sandbox")}
    agreement = processor_agreement(payments, [charge("ch_1", "pay_1", "sandbox_eu")])
    assert agreement["double_charges"] == []
    assert agreement["wrong_acquirer"] == [
        {
            "payment": "pay_1",
            "processor": "sandbox",
            "failed_over_from": "",
            "charges": [("sandbox_eu", "ch_1", "succeeded")],
        }
    ]


def test_charges_for_no_payment_are_orphans_named_by_their_acquirer():
    agreement = processor_agreement({}, [charge("ch_1", "pay_unknown", "sandbox_eu")])
    assert agreement["orphan_charges"] == [{"reference": "pay_unknown", "charges": [("sandbox_eu", "ch_1")]}]


def test_per_acquirer_counts_payments_charges_and_failovers_both_ways():
    payments = {
        "pay_1": payment("pay_1", processor="sandbox"),
        "pay_2": payment("pay_2", processor="sandbox_eu", failed_over_from="sandbox"),
        "pay_3": payment("pay_3", processor="sandbox_eu"),
    }
    charges = [charge("ch_1", "pay_1", "sandbox"), charge("ch_2", "pay_2", "sandbox_eu")]
    assert per_acquirer(payments, charges, ("sandbox", "sandbox_eu")) == {
        "sandbox": {"payments": 1, "charges": 1, "failovers_in": 0, "failovers_out": 1},
        "sandbox_eu": {"payments": 2, "charges": 1, "failovers_in": 1, "failovers_out": 0},
    }


# --- payouts (issue 15) ---------------------------------------------------------------------------


def payout(payout_id: str, status: str, *, processor: str = "sandbox", amount: int = 500, **extra) -> dict:
    return {
        "id": payout_id,
        "status": status,
        "amount": amount,
        "currency": "USD",
        "processor": processor,
        "processor_payout_id": None,
        "key": f"key-{payout_id}",
        "claimed": status != "canceled",
        "failure_code": None,
        "destination": "ea_1",
        **extra,
    }


def sent(sent_id: str, reference: str, status: str, *, acquirer: str = "sandbox", amount: int = 500) -> dict:
    return {
        "id": sent_id,
        "reference": reference,
        "status": status,
        "amount": amount,
        "currency": "USD",
        "idempotency_key": f"{reference}:payout",
        "acquirer": acquirer,
    }


def test_payouts_each_at_the_processor_as_their_status_says_are_in_order():
    payouts = {
        "po_paid": payout("po_paid", "paid", processor_payout_id="spo_1"),
        "po_closed": payout("po_closed", "failed", failure_code="account_closed"),
        "po_refused": payout("po_refused", "failed", failure_code="processor_rejected"),
        "po_canceled": payout("po_canceled", "canceled"),
    }
    agreement = payout_agreement(payouts, [sent("spo_1", "po_paid", "paid"), sent("spo_2", "po_closed", "failed")])
    assert agreement["sent_twice"] == agreement["orphans"] == agreement["wrong_acquirer"] == []
    assert agreement["disagreements"] == []
    assert agreement["by_status"] == {"paid": 1, "failed": 2, "canceled": 1}


def test_a_payout_sent_twice_is_found_even_on_two_acquirers():
    payouts = {"po_1": payout("po_1", "paid")}
    agreement = payout_agreement(
        payouts, [sent("spo_1", "po_1", "paid"), sent("spo_2", "po_1", "paid", acquirer="sandbox_eu")]
    )
    assert [twice["payout"] for twice in agreement["sent_twice"]] == ["po_1"]
    assert [wrong["payout"] for wrong in agreement["wrong_acquirer"]] == ["po_1"]


def test_payouts_at_odds_with_the_processor_are_disagreements():
    payouts = {
        "po_canceled": payout("po_canceled", "canceled"),
        "po_paid_nowhere": payout("po_paid_nowhere", "paid"),
        "po_paid_failed": payout("po_paid_failed", "paid"),
        "po_pending": payout("po_pending", "pending"),
        "po_amount": payout("po_amount", "paid", amount=700),
    }
    held = [
        sent("spo_1", "po_canceled", "paid"),
        sent("spo_2", "po_paid_failed", "failed"),
        sent("spo_3", "po_amount", "paid", amount=500),
        sent("spo_4", "po_someone_elses", "paid"),
    ]
    agreement = payout_agreement(payouts, held)
    problems = {d["payout"]: d["problems"] for d in agreement["disagreements"]}
    assert problems == {
        "po_canceled": ["canceled on the platform, yet the processor has it"],
        "po_paid_nowhere": ["paid on the platform, unknown to the processor"],
        "po_paid_failed": ["paid on the platform, failed at the processor"],
        "po_pending": ["still pending after healing"],
        "po_amount": ["700 USD on the platform, 500 USD at the processor"],
    }
    assert agreement["orphans"] == [{"reference": "po_someone_elses", "payouts": [("sandbox", "spo_4")]}]


def test_each_payout_records_created_and_its_outcome_once_and_the_merchant_receives_them():
    payouts = {"po_1": payout("po_1", "paid"), "po_2": payout("po_2", "canceled")}
    events = [
        ("evt_1", "payout.created", "po_1"),
        ("evt_2", "payout.paid", "po_1"),
        ("evt_3", "payout.created", "po_2"),
        ("evt_4", "payout.paid", "po_2"),
    ]
    result = payout_events(payouts, events, received={"evt_1", "evt_3", "evt_4"})
    assert result["problems"] == [
        {"payout": "po_1", "event": "payout.paid", "not_received": "evt_2"},
        {"payout": "po_2", "event": "payout.canceled", "recorded": 0},
        {"payout": "po_2", "event": "payout.paid", "unexpected": 1},
    ]


def payout_call(key: str, op: str, *, status: int, answer: dict, amount: int | None = 500, **extra) -> Call:
    path = {"payout": "/api/v1/payouts", "payout_cancel": "/api/v1/payouts/po_1/cancel"}.get(op, "/api/v1/x")
    return Call(
        key=key, op=op, path=path, body={}, client=0, flow=0, amount=amount, status=status, answer=answer, **extra
    )


def judged(calls: list[Call], payouts: dict, accounts: dict | None = None) -> list[str]:
    replays = {c.key: {"status": c.status, "body": c.answer, "replayed": True, "first_5xx": None} for c in calls}
    return [f["reason"] for f in judge_all(calls, replays, {}, {}, payouts, accounts or {})["findings"]]


def test_payout_keys_answered_truthfully_are_not_findings():
    payouts = {
        "po_1": payout("po_1", "canceled", key="k-create", claimed=False),
        "po_2": payout("po_2", "paid", key="k-create2"),
    }
    calls = [
        payout_call(
            "k-create",
            "payout",
            status=201,
            answer={"object": "payout", "id": "po_1", "amount": 500, "status": "pending"},
        ),
        payout_call(
            "k-cancel",
            "payout_cancel",
            status=200,
            answer={"object": "payout", "id": "po_1", "status": "canceled"},
            payout_id="po_1",
        ),
        payout_call(
            "k-create2",
            "payout",
            status=201,
            answer={"object": "payout", "id": "po_2", "amount": 500, "status": "pending"},
        ),
        payout_call(
            "k-cancel2",
            "payout_cancel",
            status=400,
            answer={"error": {"code": "payout_not_cancelable"}},
            payout_id="po_2",
        ),
        payout_call("k-poor", "payout", status=400, answer={"error": {"code": "balance_insufficient"}}),
        payout_call("k-ea", "external_account", status=201, answer={"object": "external_account", "id": "ea_1"}),
    ]
    assert (
        judged(calls, payouts, {"ea_1": {"id": "ea_1", "key": "k-ea", "last4": "6789", "processor": "sandbox"}}) == []
    )


def test_payout_keys_whose_answers_contradict_the_payouts_are_findings():
    payouts = {
        "po_1": payout("po_1", "canceled", key="k-refused", claimed=False),
        "po_2": payout("po_2", "pending", key="k-create2", claimed=False),
        "po_3": payout("po_3", "failed", key="k-paid"),
    }
    calls = [
        payout_call("k-refused", "payout", status=400, answer={"error": {"code": "balance_insufficient"}}),
        payout_call(
            "k-cancel",
            "payout_cancel",
            status=400,
            answer={"error": {"code": "payout_not_cancelable"}},
            payout_id="po_1",
        ),
        payout_call(
            "k-cancel2",
            "payout_cancel",
            status=400,
            answer={"error": {"code": "payout_not_cancelable"}},
            payout_id="po_2",
        ),
        payout_call(
            "k-paid", "payout", status=201, answer={"object": "payout", "id": "po_3", "amount": 500, "status": "paid"}
        ),
    ]
    assert judged(calls, payouts) == [
        "refused (400 balance_insufficient) but the key created payout po_1",
        "refused (400 payout_not_cancelable) although this cancel took effect",
        "refused as not cancelable, but the payout was never claimed for sending",
        "answer says paid, the payout is failed",
    ]
