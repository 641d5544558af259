from django.core.management.base import BaseCommand

from payments.refund_services import refunds_resolve_pending
from payments.services import payments_resolve_processing


class Command(BaseCommand):
    help = (
        "Ask the processor about every payment stuck in processing, every capture or void and every refund "
        "whose outcome is unknown, and settle them (what the beat task runs)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=500)

    def handle(self, *args, limit: int, **options):
        summary = payments_resolve_processing(limit=limit)
        refunds_settled = refunds_resolve_pending(limit=limit)
        self.stdout.write(
            f"examined {summary.examined}, settled {summary.settled}, still processing {summary.still_processing}; "
            f"refunds settled {refunds_settled}"
        )
