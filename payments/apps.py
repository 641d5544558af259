from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"

    def ready(self):
        from core.metrics import metrics_collector_register
        from payments import metrics

        metrics_collector_register("payments", metrics.collect)
