"""The platform's own system checks on its configuration.

``check --deploy`` (what a deployment runs before going live) fails with DJANGO_DEBUG=0 while the processor is
talked to with the sandbox's development credentials: ``PROCESSOR_API_KEY`` (issue 12, item 6) and
``PROCESSOR_WEBHOOK_SECRET`` (anyone could sign processor webhooks with the published default). An error rather
than a warning: there is no production where those are right. Only with ``--deploy``: development, the test
suite and the sandbox run with DEBUG off and these defaults, and every other command runs the checks too.
"""

from django.conf import settings
from django.core import checks

DEVELOPMENT_WEBHOOK_SECRET = "whsec_sandbox_development_only"


@checks.register(checks.Tags.security, deploy=True)
def processor_credentials_check(app_configs=None, **kwargs):
    if settings.DEBUG:
        return []
    errors = []
    if settings.PROCESSOR_API_KEY == settings.PROCESSOR_DEVELOPMENT_API_KEY:
        errors.append(
            checks.Error(
                "PROCESSOR_API_KEY is the sandbox processor's development key.",
                hint="Set PROCESSOR_API_KEY to the key your processor issued for this deployment.",
                id="platform.E001",
            )
        )
    if settings.PROCESSOR_WEBHOOK_SECRET == DEVELOPMENT_WEBHOOK_SECRET:
        errors.append(
            checks.Error(
                "PROCESSOR_WEBHOOK_SECRET is the sandbox processor's development secret: anyone can sign webhooks.",
                hint="Set PROCESSOR_WEBHOOK_SECRET to the signing secret your processor issued.",
                id="platform.E002",
            )
        )
    return errors
