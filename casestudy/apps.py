from django.apps import AppConfig


class CasestudyConfig(AppConfig):
    """Holds ``manage.py casestudy`` (the runner), the report and its admin page; no models. The naive design is
    the app ``casestudy.naive``."""

    name = "casestudy"
    verbose_name = "Case study"
