"""Automatic payouts (issue 15): the payout schedule through the account API, and the beat task that pays each
scheduled merchant's whole available balance out once per period, through the normal creation and send path."""

import threading
import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection

from core.models import AuditEntry
from merchants.models import Merchant
from merchants.services import merchant_create, merchant_payout_schedule_update
from payouts import payout_services
from payouts.models import Payout
from tests.conftest import requires_postgres
from tests.payments.helpers import balance_of, error_of, post
from tests.payouts.test_payouts import add_account, at_processor, fund

URL = "/api/v1/account"
MONDAY = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def schedule(merchant, interval: str) -> None:
    merchant_payout_schedule_update(merchant=merchant, interval=interval, actor="test")


def run(now=MONDAY) -> dict:
    return payout_services.payouts_pay_out_automatically(now=now)


@pytest.fixture
def daily(merchant, api_client, sandbox):
    """A daily merchant with 10 000 available in USD and a default USD account at the sandbox."""
    fund(merchant, 10_000)
    add_account(api_client)
    schedule(merchant, "daily")
    return merchant


# --- The account API ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_account_shows_the_payout_schedule(api_client, merchant):
    body = api_client.get(URL).json()
    assert body["payout_schedule"] == {"interval": "manual", "delay_days": 2, "weekly_anchor": "monday"}


@pytest.mark.django_db
def test_the_schedule_is_changed_audited_and_a_replay_answers_the_same(api_client, merchant):
    key = str(uuid.uuid4())
    body = {"payout_schedule": {"interval": "weekly", "delay_days": 3, "weekly_anchor": "friday"}}
    first = post(api_client, URL, body, key=key)
    assert first.status_code == 200, first.content
    assert first.json()["payout_schedule"] == {"interval": "weekly", "delay_days": 3, "weekly_anchor": "friday"}
    merchant.refresh_from_db()
    assert (merchant.payout_interval, merchant.payout_delay_days) == ("weekly", 3)
    [entry] = AuditEntry.objects.filter(action="merchant.payout_schedule", object_id=merchant.pk)
    assert entry.before == {"interval": "manual", "delay_days": 2, "weekly_anchor": "monday"}
    assert entry.after == {"interval": "weekly", "delay_days": 3, "weekly_anchor": "friday"}
    replay = post(api_client, URL, body, key=key)
    assert (replay.status_code, replay.content) == (200, first.content)
    # Only the fields given change.
    changed = {"interval": "daily", "delay_days": 3, "weekly_anchor": "friday"}
    assert post(api_client, URL, {"payout_schedule": {"interval": "daily"}}).json()["payout_schedule"] == changed
    assert api_client.get(URL).json()["payout_schedule"] == changed


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"payout_schedule": {"interval": "hourly"}}, "payout_schedule[interval]"),
        ({"payout_schedule": {"delay_days": -1}}, "payout_schedule[delay_days]"),
        ({"payout_schedule": {"delay_days": 31}}, "payout_schedule[delay_days]"),
        ({"payout_schedule": {"delay_days": "2"}}, "payout_schedule[delay_days]"),
        ({"payout_schedule": {"anchor": "monday"}}, "payout_schedule[anchor]"),
        ({"payout_schedule": {"weekly_anchor": "mon"}}, "payout_schedule[weekly_anchor]"),
        ({"name": "x"}, "name"),
        ({}, "payout_schedule"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api_client, merchant, body, param):
    response = post(api_client, URL, body)
    assert response.status_code == 400, response.content
    assert error_of(response)["param"] == param
    merchant.refresh_from_db()
    assert (merchant.payout_interval, merchant.payout_delay_days) == ("manual", 2)


@pytest.mark.django_db
def test_a_post_without_idempotency_key_is_refused(api_client, merchant):
    response = api_client.post(URL, {"payout_schedule": {"interval": "daily"}}, format="json")
    assert response.status_code == 400
    merchant.refresh_from_db()
    assert merchant.payout_interval == "manual"


# --- The beat task -----------------------------------------------------------------------------------


def test_periods():
    def period(interval, now=MONDAY, anchor="monday"):
        return payout_services.payout_period(Merchant(payout_interval=interval, payout_weekly_anchor=anchor), now)

    assert period("daily") == "2026-11-30"
    assert period("weekly") == "2026-W49"
    assert period("weekly", datetime(2026, 12, 6, 23, 59, tzinfo=UTC)) == "2026-W49"  # Sunday
    assert period("manual") is None
    # A Friday anchor: the week runs Friday to Thursday, named by its Friday's ISO week.
    assert period("weekly", MONDAY, "friday") == "2026-W48"
    assert period("weekly", datetime(2026, 12, 3, tzinfo=UTC), "friday") == "2026-W48"  # Thursday
    assert period("weekly", datetime(2026, 12, 4, tzinfo=UTC), "friday") == "2026-W49"  # Friday


@pytest.mark.django_db
def test_a_daily_merchant_is_paid_out_its_whole_balance_once_per_day(daily, sandbox):
    assert run() == {"created": 1, "skipped": 0}
    [payout] = Payout.objects.filter(merchant=daily)
    assert (payout.amount, payout.currency, payout.automatic, payout.period) == (10_000, "USD", True, "2026-11-30")
    assert payout.status == "pending" and balance_of(daily) == (0, 0)
    # More funds the same day wait for the next day, however many runs.
    fund(daily, 500)
    for _ in range(3):
        assert run()["created"] == 0
    assert Payout.objects.filter(merchant=daily).count() == 1
    assert run(datetime(2026, 12, 1, 0, 1, tzinfo=UTC))["created"] == 1
    assert sorted(Payout.objects.filter(merchant=daily).values_list("amount", flat=True)) == [500, 10_000]


@pytest.mark.django_db
def test_the_automatic_payout_goes_through_the_normal_send_path(daily, api_client, sandbox):
    run()
    payout = Payout.objects.get(merchant=daily)
    body = api_client.get(f"/api/v1/payouts/{payout.id}").json()
    assert (body["automatic"], body["status"], body["amount"]) == (True, "pending", 10_000)
    assert payout_services.payout_send(payout_id=payout.id).status == "in_transit"
    [remote] = at_processor(sandbox, payout.id)
    assert remote["amount"] == 10_000


@pytest.mark.django_db
def test_a_weekly_merchant_is_paid_once_per_iso_week(merchant, api_client, sandbox):
    fund(merchant, 1_000)
    add_account(api_client)
    schedule(merchant, "weekly")
    assert run()["created"] == 1
    fund(merchant, 1_000)
    assert run(datetime(2026, 12, 6, 23, 0, tzinfo=UTC))["created"] == 0  # Sunday, same week
    assert run(datetime(2026, 12, 7, 0, 5, tzinfo=UTC))["created"] == 1
    assert list(Payout.objects.order_by("period").values_list("period", flat=True)) == ["2026-W49", "2026-W50"]


@pytest.mark.django_db
def test_manual_merchants_are_untouched(merchant, api_client, sandbox):
    fund(merchant, 1_000)
    add_account(api_client)
    assert run() == {"created": 0, "skipped": 0}
    assert not Payout.objects.exists()


@pytest.mark.django_db
def test_held_merchants_are_skipped_until_released(daily):
    payout_services.payouts_hold(merchant=daily, reason="review", actor="staff:test")
    assert run() == {"created": 0, "skipped": 1}
    assert not Payout.objects.exists() and balance_of(daily) == (10_000, 0)
    payout_services.payouts_release(merchant=daily, reason="done", actor="staff:test")
    assert run()["created"] == 1


@pytest.mark.django_db
def test_no_default_account_or_no_balance_is_skipped(db, sandbox):
    without_account = merchant_create(name="No account")
    fund(without_account, 1_000)
    schedule(without_account, "daily")
    assert run() == {"created": 0, "skipped": 0}
    assert balance_of(without_account) == (1_000, 0)


@pytest.mark.django_db
def test_no_balance_is_skipped(merchant, api_client, sandbox):
    add_account(api_client)
    schedule(merchant, "daily")
    assert run() == {"created": 0, "skipped": 0}
    assert not Payout.objects.exists()


@pytest.mark.django_db
def test_the_database_refuses_a_second_automatic_payout_in_a_period(daily):
    run()
    fund(daily, 500)
    with pytest.raises(Exception, match="payout_one_automatic_per_period"):
        payout_services.payout_create(
            merchant=daily,
            amount=500,
            currency="USD",
            destination_id=None,
            description=None,
            actor="test",
            automatic=True,
            period="2026-11-30",
        )
    assert Payout.objects.count() == 1 and balance_of(daily) == (500, 0)


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_pay_out_once(daily):
    for day in (1, 2, 3):
        now = datetime(2026, 12, day, 12, 0, tzinfo=UTC)
        start = threading.Barrier(3)
        results = []

        def go(now=now, start=start, results=results):
            try:
                start.wait(timeout=30)
                results.append(run(now))
            finally:
                connection.close()

        threads = [threading.Thread(target=go) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sum(result["created"] for result in results) == 1, results
        assert Payout.objects.filter(merchant=daily, period=now.date().isoformat()).count() == 1
        assert balance_of(daily) == (0, 0)
        fund(daily, 1_000)
    assert Merchant.objects.get(pk=daily.pk).payout_interval == "daily"
