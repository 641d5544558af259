from django.apps import AppConfig


class PlatformConfig(AppConfig):
    """The ``config`` package as an app without models: it registers the platform's own system checks."""

    name = "config"
    label = "platform_config"
    verbose_name = "Platform configuration"

    def ready(self):
        from config import checks  # noqa: F401  (registers them)
