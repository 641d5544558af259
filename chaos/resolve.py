"""``python -m chaos.resolve SECONDS``, run with the chaos stack's environment: what beat's resolvers do, in a loop.

Calls the ``payments.resolve_processing`` task's function (payments left ``processing``,
captures and voids with an unknown outcome, refunds left ``pending``) and the ``payouts.sweep``
task's (payouts whose send was lost or got no answer, payouts in transit past their arrival)
every two seconds until none is left or ``SECONDS`` have passed, then prints one line of JSON.
Beat runs them every 30 s and every minute: the heal phase would otherwise wait for them.
"""

import json
import os
import sys
import time


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from payments.models import Payment, PaymentStatus, Refund, RefundStatus
    from payments.tasks import resolve_processing
    from payouts.models import Payout, PayoutStatus
    from payouts.tasks import sweep

    def left() -> int:
        return (
            Payment.objects.filter(status=PaymentStatus.PROCESSING).count()
            + Payment.objects.filter(processor_operation_pending_since__isnull=False).count()
            + Refund.objects.filter(status=RefundStatus.PENDING).count()
            + Payout.objects.filter(status__in=[PayoutStatus.PENDING, PayoutStatus.IN_TRANSIT]).count()
        )

    deadline = time.monotonic() + float(sys.argv[1] if len(sys.argv) > 1 else 30)
    rounds, errors, remaining = 0, [], -1
    while True:
        rounds += 1
        for task in (resolve_processing, sweep):
            try:
                task()
            except Exception as error:  # noqa: BLE001 - reported by the simulator
                errors.append(f"{task.name}: {type(error).__name__}: {error}"[:300])
        try:
            remaining = left()
        except Exception as error:  # noqa: BLE001
            errors.append(f"{type(error).__name__}: {error}"[:300])
        if remaining == 0 or time.monotonic() > deadline:
            break
        time.sleep(2)
    sys.stdout.write(json.dumps({"rounds": rounds, "left": remaining, "errors": errors[-5:]}) + "\n")


if __name__ == "__main__":
    main()
