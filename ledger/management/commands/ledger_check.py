"""``python manage.py ledger_check [--json]``: prove the ledger's invariants; exit non-zero when one fails."""

import json

from django.core.management.base import BaseCommand, CommandError

from ledger.invariants import run_checks


class Command(BaseCommand):
    help = (
        "Check the ledger's invariants with set-based SQL: every entry balances per currency and phase, "
        "the sum over all accounts is zero per currency, no balance limit is broken, every pending entry is "
        "resolved at most once, every succeeded payment's capture is posted exactly once. Exits 1 on a failure."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args, **options):
        report = run_checks()
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
        else:
            for result in report.results:
                label = {"passed": "ok     ", "failed": "FAILED ", "skipped": "skipped", "warning": "WARNING"}[
                    result.status
                ]
                line = f"{label} {result.name:<24} {result.description}"
                if result.status == "failed":
                    line += f" — {result.failures} offending, e.g. {result.sample}"
                elif result.status == "warning":
                    line += f" — {result.detail} e.g. {result.sample}"
                elif result.status == "skipped":
                    line += f" ({result.detail})"
                else:
                    line += f" [{result.seconds:.3f}s]"
                self.stdout.write(line)
        if not report.ok:
            failed = [result.name for result in report.results if result.status == "failed"]
            raise CommandError(f"ledger check failed: {', '.join(failed)}")
        if not options["json"]:
            warned = f" (warnings: {', '.join(report.warnings)})" if report.warnings else ""
            self.stdout.write(self.style.SUCCESS(f"ledger check passed{warned}"))
