"""The session's state machine, its constraints, expiry and the one-attempt-at-a-time rule (services, sandbox)."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from checkout import services
from checkout.errors import CheckoutSessionUnexpectedState
from checkout.models import CheckoutSession
from events.models import Event
from payments.models import Payment
from tests.checkout.helpers import create_session
from tests.payments.helpers import create_payment, error_of, post

pytestmark = pytest.mark.django_db


def session_row(api_client, **fields) -> CheckoutSession:
    return CheckoutSession.objects.get(pk=create_session(api_client, **fields)["id"])


def test_the_state_machine_allows_open_to_complete_or_expired_only(api_client, sandbox):
    session = session_row(api_client)
    session.expire(now=timezone.now())
    with pytest.raises(TransitionNotAllowed):
        session.expire(now=timezone.now())
    with pytest.raises(TransitionNotAllowed):
        session.complete(payment=None, now=timezone.now())


def test_the_database_holds_complete_with_exactly_one_payment(api_client, sandbox):
    session = session_row(api_client)
    with pytest.raises(IntegrityError), transaction.atomic():
        CheckoutSession.objects.filter(pk=session.pk).update(status="complete")
    payment = Payment.objects.get(pk=create_payment(api_client, confirm=True).json()["id"])
    CheckoutSession.objects.filter(pk=session.pk).update(status="complete", payment=payment)
    other = session_row(api_client)
    with pytest.raises(IntegrityError), transaction.atomic():
        CheckoutSession.objects.filter(pk=other.pk).update(status="complete", payment=payment)
    with pytest.raises(IntegrityError), transaction.atomic():
        CheckoutSession.objects.filter(pk=other.pk).update(payment=payment)  # open with a payment
    with pytest.raises(IntegrityError), transaction.atomic():
        CheckoutSession.objects.filter(pk=other.pk).update(status="expired", attempt_started_at=timezone.now())


def test_expiry_is_idempotent_and_skips_sessions_not_due_or_paid(api_client, sandbox):
    due = session_row(api_client)
    not_due = session_row(api_client)
    paid = session_row(api_client)
    services.checkout_session_pay(session_id=paid.pk, method_type="card", method_input="tok_visa")
    past = timezone.now() - timedelta(seconds=1)
    CheckoutSession.objects.filter(pk__in=[due.pk, paid.pk]).update(expires_at=past)
    assert services.checkout_sessions_expire_due() == 1
    assert services.checkout_sessions_expire_due() == 0
    states = dict(CheckoutSession.objects.values_list("pk", "status"))
    assert (states[due.pk], states[not_due.pk], states[paid.pk]) == ("expired", "open", "complete")
    assert Event.objects.filter(type="checkout.session.expired").count() == 1
    assert Event.objects.filter(type="checkout.session.completed").count() == 1


def test_a_complete_session_cannot_be_expired(api_client, sandbox):
    body = create_session(api_client)
    services.checkout_session_pay(session_id=body["id"], method_type="card", method_input="tok_visa")
    response = post(api_client, f"/api/v1/checkout_sessions/{body['id']}/expire")
    assert response.status_code == 400 and error_of(response)["code"] == "checkout_session_unexpected_state"


def test_a_session_with_a_wallet_payment_under_way_cannot_be_expired_until_it_ends(api_client, sandbox, settings):
    body = create_session(api_client, payment_method_types=["wallet"])
    outcome = services.checkout_session_pay(
        session_id=body["id"], method_type="wallet", method_input={"provider": "sandboxpay"}
    )
    assert outcome.state == "redirect" and outcome.redirect_url.startswith(sandbox.base_url)
    refused = post(api_client, f"/api/v1/checkout_sessions/{body['id']}/expire")
    assert refused.status_code == 400 and error_of(refused)["code"] == "checkout_session_unexpected_state"
    assert api_client.get(f"/api/v1/checkout_sessions/{body['id']}").json()["payment_in_progress"] == outcome.payment.id
    # The wallet's own expiry cancels the payment; the session is then free, and may expire.
    from payments.services import payments_expire_awaiting_action

    settings.PAYMENT_WALLET_EXPIRY_SECONDS = 0
    assert payments_expire_awaiting_action() == 1
    expired = post(api_client, f"/api/v1/checkout_sessions/{body['id']}/expire")
    assert expired.status_code == 200 and expired.json()["status"] == "expired"


def test_a_second_attempt_while_one_is_in_flight_is_busy_and_a_stale_claim_is_taken_over(api_client, sandbox, settings):
    session = session_row(api_client)
    state, claimed = services._claim_attempt(session.pk)  # an attempt whose process then died
    assert state is None and claimed.attempt_number == 1
    busy = services.checkout_session_pay(session_id=session.pk, method_type="card", method_input="tok_visa")
    assert busy.state == "busy" and Payment.objects.count() == 0
    CheckoutSession.objects.filter(pk=session.pk).update(
        attempt_started_at=timezone.now() - timedelta(seconds=settings.CHECKOUT_ATTEMPT_STALE_SECONDS + 1)
    )
    taken = services.checkout_session_pay(session_id=session.pk, method_type="card", method_input="tok_visa")
    assert taken.state == "complete" and Payment.objects.count() == 1
    assert CheckoutSession.objects.get(pk=session.pk).attempt_number == 2


def test_a_payment_of_an_attempt_taken_over_is_rolled_back(api_client, sandbox):
    session = session_row(api_client)
    services._claim_attempt(session.pk)
    checkpoint = services._record_attempt_payment(session.pk, attempt_number=1)
    CheckoutSession.objects.filter(pk=session.pk).update(attempt_number=2)  # taken over meanwhile
    from payments.methods import payment_method
    from payments.routing import route_choose
    from payments.services import payment_create

    route = route_choose(merchant=session.merchant, currency="USD", payment_method_type="card")
    with pytest.raises(CheckoutSessionUnexpectedState):
        payment_create(
            merchant=session.merchant,
            amount=100,
            currency="USD",
            payment_method=payment_method("card").resolve("tok_visa", route=route),
            confirm=True,
            checkpoint=checkpoint,
        )
    assert Payment.objects.count() == 0


def test_a_processor_refusal_frees_the_attempt(api_client, sandbox):
    session = session_row(api_client)
    with pytest.raises(Exception, match="No such card token"):
        services.checkout_session_pay(session_id=session.pk, method_type="card", method_input="tok_unknown")
    assert CheckoutSession.objects.get(pk=session.pk).attempt_started_at is None
    assert services.checkout_session_pay(session_id=session.pk, method_type="card", method_input="tok_visa").state == (
        "complete"
    )


def test_manual_capture_completes_on_authorisation(api_client, sandbox):
    session = session_row(api_client, capture_method="manual")
    outcome = services.checkout_session_pay(session_id=session.pk, method_type="card", method_input="tok_visa")
    assert outcome.state == "complete" and outcome.payment.status == "requires_capture"


def test_the_openapi_serializer_names_exactly_the_representations_members(api_client):
    from checkout.api.serializers import CheckoutSessionSerializer
    from checkout.representations import checkout_session_representation

    session = session_row(api_client)
    assert list(CheckoutSessionSerializer().fields) == list(checkout_session_representation(session))
