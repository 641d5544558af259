from django.apps import AppConfig


class PayoutsConfig(AppConfig):
    name = "payouts"

    def ready(self):
        # The processor's payout webhooks reach payments' dispatch (payments sits below payouts, so it cannot
        # import this app): payouts adds its own kind there.
        from payments.processor_events import DISPATCH
        from payouts.payout_services import payout_apply_processor_event

        DISPATCH.setdefault("payout", payout_apply_processor_event)

        from core.metrics import metrics_collector_register
        from payouts import metrics

        metrics_collector_register("payouts", metrics.collect)
