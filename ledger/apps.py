from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "ledger"

    def ready(self):
        from core.health import health_section_register
        from core.metrics import metrics_collector_register
        from ledger import metrics
        from ledger.health import ledger_health

        # Reported, not judged (as the processors are): funds maturing late do not stop payments, so /healthz's
        # status and code do not depend on it; monitoring alerts on ledger.funds_maturing.status "overdue".
        health_section_register("ledger", ledger_health)
        metrics_collector_register("ledger", metrics.collect)
