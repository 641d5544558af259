"""``manage.py reconcile --date YYYY-MM-DD [--processor NAME] [--file PATH] [--json]``: reconcile one processor's
day (the default processor's unless named); non-zero exit on failure."""

import datetime
import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from reconciliation.errors import ReconciliationFailed
from reconciliation.models import ExceptionType
from reconciliation.services import reconciliation_run


def parse_day(value: str) -> datetime.date:
    today = datetime.datetime.now(tz=datetime.UTC).date()
    named = {"today": today, "yesterday": today - datetime.timedelta(days=1)}
    if value in named:
        return named[value]
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--date {value!r} is not a day written YYYY-MM-DD (or today, yesterday)") from None


class Command(BaseCommand):
    help = (
        "Reconcile one UTC day: fetch the processor's settlement report (or read --file), import it, match it "
        "against the ledger and the payments, and record every difference as an exception. Re-running a day "
        'replaces its run. With --json the last line of output is {"matched": N, "exceptions": {type: N}}.'
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", required=True, help="The settlement day, YYYY-MM-DD (UTC), today or yesterday.")
        parser.add_argument(
            "--processor",
            help="The processor whose report it is (a name of PROCESSOR_NAMES); the default one if unset.",
        )
        parser.add_argument("--file", help="Read the report from this CSV file instead of asking the processor.")
        parser.add_argument("--json", action="store_true", help="End with the figures as one line of JSON.")

    def handle(self, *args, **options):
        day = parse_day(options["date"])
        processor = options["processor"] or settings.PROCESSOR_DEFAULT
        try:
            outcome = reconciliation_run(processor=processor, settlement_date=day, path=options["file"])
        except ReconciliationFailed as error:
            raise CommandError(f"reconciliation of {day} failed: {error.message}") from error
        run = outcome.run
        seconds = run.duration.total_seconds() if run.duration else 0.0
        self.stdout.write(
            f"reconciliation of {processor} {day} ({run.source}): {outcome.lines} lines, "
            f"{run.internal_items} ledger events, {outcome.matched} matched, "
            f"{sum(outcome.counts.values())} exceptions, {outcome.auto_resolved} resolved "
            f"automatically, in {seconds:.2f} s"
        )
        for kind in ExceptionType.values:
            self.stdout.write(f"  {kind:<20} {outcome.counts.get(kind, 0)}")
        if options["json"]:
            self.stdout.write(json.dumps(outcome.as_json()))
