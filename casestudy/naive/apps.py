from django.apps import AppConfig


class NaiveConfig(AppConfig):
    """Its tables exist everywhere (migrations run the same on every database); its URLs only where
    ``CASESTUDY_NAIVE_ENABLED`` is true."""

    name = "casestudy.naive"
    label = "casestudy_naive"
    verbose_name = "Case study: the naive design"
