from django.apps import AppConfig


class ReconciliationConfig(AppConfig):
    name = "reconciliation"
    verbose_name = "Reconciliation"

    def ready(self):
        from core.metrics import metrics_collector_register
        from reconciliation import metrics

        metrics_collector_register("reconciliation", metrics.collect)
