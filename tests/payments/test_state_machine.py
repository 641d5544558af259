"""The payment state machine: exactly api.md's transitions, nothing else, and the field is protected."""

import pytest
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from payments.models import Payment, PaymentStatus

S = PaymentStatus
ALL = set(S.values)

# transition name → (sources, target, kwargs)
TRANSITIONS = {
    "confirm": ({S.REQUIRES_CONFIRMATION}, S.PROCESSING, {"now": timezone.now()}),
    "mark_requires_action": (
        {S.PROCESSING},
        S.REQUIRES_ACTION,
        {"processor_charge_id": "ch_1", "next_action_url": "http://sandbox/wallet/ch_1", "now": timezone.now()},
    ),
    "mark_authorized": (
        {S.PROCESSING, S.REQUIRES_ACTION},
        S.REQUIRES_CAPTURE,
        {"processor_charge_id": "ch_1", "now": timezone.now()},
    ),
    "mark_succeeded": (
        {S.PROCESSING, S.REQUIRES_ACTION},
        S.SUCCEEDED,
        {"processor_charge_id": "ch_1", "amount_captured": 1000},
    ),
    "mark_failed": (
        {S.PROCESSING, S.REQUIRES_ACTION},
        S.FAILED,
        {"failure_code": "card_declined", "failure_message": "no"},
    ),
    "capture": ({S.REQUIRES_CAPTURE}, S.SUCCEEDED, {"amount_captured": 600}),
    "cancel": ({S.REQUIRES_CONFIRMATION, S.REQUIRES_ACTION, S.REQUIRES_CAPTURE}, S.CANCELED, {"reason_code": None}),
    "expire": ({S.REQUIRES_CAPTURE, S.REQUIRES_ACTION}, S.CANCELED, {}),
}


def payment_in(status: str) -> Payment:
    payment = Payment(amount=1000, currency="USD")
    payment.__dict__["status"] = status  # bypass protection: build a payment in any state for the test
    return payment


@pytest.mark.parametrize("name", TRANSITIONS)
@pytest.mark.parametrize("source", sorted(ALL))
def test_each_transition_is_allowed_from_exactly_its_sources(name, source):
    sources, target, kwargs = TRANSITIONS[name]
    payment = payment_in(source)
    if source in sources:
        getattr(payment, name)(**kwargs)
        assert payment.status == target
    else:
        with pytest.raises(TransitionNotAllowed):
            getattr(payment, name)(**kwargs)
        assert payment.status == source


def test_the_graph_is_exactly_the_contracts():
    """api.md's graph, plus the wallet's requires_action (docs/api.md)."""
    edges = {(source, target) for sources, target, _ in TRANSITIONS.values() for source in sources}
    assert edges == {
        (S.REQUIRES_CONFIRMATION, S.PROCESSING),
        (S.PROCESSING, S.REQUIRES_CAPTURE),
        (S.PROCESSING, S.SUCCEEDED),
        (S.PROCESSING, S.FAILED),
        (S.REQUIRES_CONFIRMATION, S.CANCELED),
        (S.REQUIRES_CAPTURE, S.SUCCEEDED),
        (S.REQUIRES_CAPTURE, S.CANCELED),
        (S.PROCESSING, S.REQUIRES_ACTION),
        (S.REQUIRES_ACTION, S.SUCCEEDED),
        (S.REQUIRES_ACTION, S.REQUIRES_CAPTURE),
        (S.REQUIRES_ACTION, S.FAILED),
        (S.REQUIRES_ACTION, S.CANCELED),
    }
    # Terminal states have no way out.
    for terminal in (S.SUCCEEDED, S.FAILED, S.CANCELED):
        payment = payment_in(terminal)
        assert not list(payment.get_available_status_transitions())


def test_status_cannot_be_assigned_directly():
    payment = Payment(amount=1000, currency="USD")
    with pytest.raises(AttributeError):
        payment.status = S.SUCCEEDED


def test_partial_capture_releases_the_rest():
    payment = payment_in(S.REQUIRES_CAPTURE)
    payment.amount_capturable = 1000
    payment.capture(amount_captured=600)
    assert (payment.amount_captured, payment.amount_capturable) == (600, 0)
