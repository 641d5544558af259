from django.apps import AppConfig


class GatewaysConfig(AppConfig):
    name = "gateways"

    def ready(self):
        from core.health import health_section_register
        from gateways.health import processors_health

        # Reported, not judged: one acquirer down is not the platform down (payments fail over or wait for the
        # resolver), so /healthz's status and code do not depend on it; monitoring alerts on it.
        health_section_register("processors", processors_health)
