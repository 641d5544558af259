from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "ledger"

    def ready(self):
        from core.metrics import metrics_collector_register
        from ledger import metrics

        metrics_collector_register("ledger", metrics.collect)
