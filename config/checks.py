"""The platform's own system checks on its configuration.

``check --deploy`` (what a deployment runs before going live) fails with DJANGO_DEBUG=0 while any processor
(``settings.PROCESSORS``) is talked to with a sandbox's development credentials: its API key (issue 12, item 6)
or its webhook secret (anyone could sign that processor's webhooks with the published default). An error rather
than a warning: there is no production where those are right. Only with ``--deploy``: development, the test
suite and the sandbox run with DEBUG off and these defaults, and every other command runs the checks too.
"""

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def processor_credentials_check(app_configs=None, **kwargs):
    if settings.DEBUG:
        return []
    errors = []
    for position, (name, config) in enumerate(settings.PROCESSORS.items()):
        prefix = "PROCESSOR_" if position == 0 else f"PROCESSOR_{name.upper()}_"
        if config["api_key"] == settings.PROCESSOR_DEVELOPMENT_API_KEY:
            errors.append(
                checks.Error(
                    f"{prefix}API_KEY (processor {name!r}) is the sandbox processor's development key.",
                    hint=f"Set {prefix}API_KEY to the key processor {name!r} issued for this deployment.",
                    id="platform.E001",
                )
            )
        if config["webhook_secret"] == config["development_webhook_secret"]:
            errors.append(
                checks.Error(
                    f"{prefix}WEBHOOK_SECRET (processor {name!r}) is a sandbox's development secret: anyone can "
                    "sign its webhooks.",
                    hint=f"Set {prefix}WEBHOOK_SECRET to the signing secret processor {name!r} issued.",
                    id="platform.E002",
                )
            )
    return errors
