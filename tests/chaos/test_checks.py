"""The simulator's judgement of charges across the two acquirers (chaos.checks), on hand-made rows."""

from chaos.checks import per_acquirer, processor_agreement


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
