from django.apps import AppConfig


class CaseStudyConfig(AppConfig):
    """Holds ``manage.py casestudy`` (the runner); no models. The naive design is ``casestudy.naive``."""

    name = "casestudy"
    verbose_name = "Case study"
