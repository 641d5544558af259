from django.apps import AppConfig


class CasestudyConfig(AppConfig):
    name = "casestudy"
    verbose_name = "Case study"
