from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


class PlatformConfig(AppConfig):
    """The ``config`` package as an app without models: the platform's own system checks and its beat schedules."""

    name = "config"
    label = "platform_config"
    verbose_name = "Platform configuration"

    def ready(self):
        from config import checks  # noqa: F401  (registers them)
        from config.schedules import schedules_sync_after_migrate

        # An app without models gets no post_migrate of its own: listen to django-celery-beat's, whose tables
        # the schedules are stored in (config/schedules.py).
        post_migrate.connect(
            schedules_sync_after_migrate,
            sender=apps.get_app_config("django_celery_beat"),
            dispatch_uid="config.schedules_sync",
        )
