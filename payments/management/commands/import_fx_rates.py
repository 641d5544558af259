import time

from django.core.management.base import BaseCommand, CommandError

from payments.fx_services import fx_rates_import


class Command(BaseCommand):
    help = "Import exchange rates from the processor's feed now (the beat task does it every hour)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--wait", type=float, default=0, help="seconds to keep trying while the processor is not answering yet"
        )

    def handle(self, *args, wait: float, **options):
        deadline = time.monotonic() + wait
        while True:
            imported = fx_rates_import()
            if imported or time.monotonic() >= deadline:
                break
            time.sleep(1)
        if not imported:
            raise CommandError("no exchange rate imported: the processor did not answer")
        self.stdout.write(f"imported {imported} exchange rate(s)")
