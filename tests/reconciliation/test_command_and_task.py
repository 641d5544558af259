"""The command's output, the nightly task and its beat schedule."""

import datetime
import io
import json
from unittest import mock

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from gateways.base import SettlementLine
from reconciliation import tasks
from reconciliation.errors import ReconciliationFailed
from reconciliation.models import ReconciliationRun
from tests.reconciliation.helpers import Line, LinesReport, charge_line, payment, today, write_report

pytestmark = pytest.mark.django_db

TYPES = [
    "duplicate_external",
    "missing_internal",
    "status_mismatch",
    "missing_external",
    "currency_mismatch",
    "amount_mismatch",
    "fee_mismatch",
]


def test_json_is_exactly_the_last_line(merchant, tmp_path):
    paid = payment(merchant)
    path = write_report(tmp_path, today(), [charge_line(paid), Line("charge", "ch_x", "pay_x", "USD", 10)])
    out = io.StringIO()
    call_command("reconcile", "--date", today().isoformat(), "--file", str(path), "--json", stdout=out)
    lines = out.getvalue().rstrip("\n").split("\n")
    assert lines[0].startswith(
        f"reconciliation of sandbox {today()} (file:{path}): 2 lines, 1 ledger events, 1 matched"
    )
    last = json.loads(lines[-1])
    assert list(last) == ["matched", "exceptions"] and last["matched"] == 1
    assert sorted(last["exceptions"]) == sorted(TYPES)
    assert last["exceptions"] == {kind: 1 if kind == "missing_internal" else 0 for kind in TYPES}
    assert lines[-1] == json.dumps(last)


def test_without_json_a_readable_summary(merchant, tmp_path):
    out = io.StringIO()
    call_command(
        "reconcile", "--date", today().isoformat(), "--file", str(write_report(tmp_path, today(), [])), stdout=out
    )
    text = out.getvalue()
    assert "0 lines" in text and "missing_external" in text and not text.strip().endswith("}")


def test_named_days(tmp_path):
    yesterday = today() - datetime.timedelta(days=1)
    call_command(
        "reconcile", "--date", "yesterday", "--file", str(write_report(tmp_path, yesterday, [])), stdout=io.StringIO()
    )
    assert ReconciliationRun.objects.get().settlement_date == yesterday


def test_the_beat_task_queues_one_reconciliation_per_processor(settings):
    with mock.patch.object(tasks.reconcile_processor_day, "delay") as delay:
        queued = tasks.reconcile_previous_day.run()
    assert [call.args for call in delay.call_args_list] == [(name, None) for name in settings.PROCESSORS]
    assert queued == [{"processor": name, "status": "queued"} for name in settings.PROCESSORS]


def test_the_task_reconciles_a_processors_previous_utc_day(merchant):
    yesterday = today() - datetime.timedelta(days=1)
    fake = mock.Mock()
    fake.settlement_report.return_value = LinesReport(
        [SettlementLine(2, yesterday, "charge", "ch_1", "pay_1", "EUR", 1000, 50, 950)], sha256="ab" * 32
    )
    with mock.patch("reconciliation.services.processor_outside_transaction", return_value=fake) as named:
        result = tasks.reconcile_processor_day.apply(args=("sandbox_eu",)).get()
    assert named.call_args.args[0] == "sandbox_eu"
    fake.settlement_report.assert_called_once_with(day=yesterday)
    assert result["status"] == "succeeded" and result["day"] == yesterday.isoformat()
    assert result["processor"] == "sandbox_eu"
    assert result["matched"] == 0 and result["exceptions"]["missing_internal"] == 1
    run = ReconciliationRun.objects.get()
    assert (run.processor, run.settlement_date, run.source, run.status, run.report_sha256) == (
        "sandbox_eu",
        yesterday,
        "processor",
        "succeeded",
        "ab" * 32,
    )
    assert len(run.report_sha256) == 64


def test_the_task_retries_when_the_processor_cannot_be_reached():
    with mock.patch(
        "reconciliation.tasks.reconciliation_run", side_effect=ReconciliationFailed("unreachable", retryable=True)
    ):
        with mock.patch.object(tasks.reconcile_processor_day, "retry", side_effect=RuntimeError("retry")) as retry:
            with pytest.raises(RuntimeError, match="retry"):
                tasks.reconcile_processor_day.run("sandbox")
    assert retry.call_args.kwargs["countdown"] == tasks.RETRY_SECONDS


def test_the_task_does_not_retry_a_bad_report():
    with mock.patch("reconciliation.tasks.reconciliation_run", side_effect=ReconciliationFailed("line 2: bad")):
        assert tasks.reconcile_processor_day.run("sandbox_eu", day="2026-01-02") == {
            "processor": "sandbox_eu",
            "day": "2026-01-02",
            "status": "failed",
            "error": "line 2: bad",
        }


def test_the_beat_schedule_runs_it_at_two_utc():
    task = PeriodicTask.objects.get(task="reconciliation.reconcile_previous_day")
    assert task.enabled and task.interval is None
    crontab = task.crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_month, crontab.month_of_year, crontab.day_of_week) == (
        "0",
        "2",
        "*",
        "*",
        "*",
    )
    assert str(crontab.timezone) == "UTC"


def test_the_schedule_migration_can_run_again_without_duplicates():
    import importlib

    from django.apps import apps

    migration = importlib.import_module("reconciliation.migrations.0002_beat_schedule")
    before = PeriodicTask.objects.count()
    migration.create_schedule(apps, None)
    assert PeriodicTask.objects.count() == before
    assert PeriodicTask.objects.filter(task="reconciliation.reconcile_previous_day").count() == 1


def test_finance_may_view_runs_and_exceptions():
    from django.contrib.auth.models import Group

    codenames = set(Group.objects.get(name="Finance").permissions.values_list("codename", flat=True))
    assert {"view_reconciliationrun", "view_reconciliationexception", "resolve_reconciliation_exception"} <= codenames
    support = set(Group.objects.get(name="Support").permissions.values_list("codename", flat=True))
    assert not {code for code in support if "reconciliation" in code}
