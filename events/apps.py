from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"

    def ready(self):
        from core.metrics import metrics_collector_register
        from events import metrics

        metrics_collector_register("events", metrics.collect)
