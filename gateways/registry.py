"""Which processor the platform talks to."""

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from gateways.base import Processor

DEFAULT_PROCESSOR = "gateways.sandbox_adapter.SandboxProcessor"


@cache
def _processor(path: str) -> Processor:
    return import_string(path)()


def get_processor() -> Processor:
    """The processor adapter, one cached instance per process (it holds a pooled HTTP session).

    ``settings.PROCESSOR_ADAPTER`` (a dotted path) replaces the sandbox with another adapter.
    """
    return _processor(getattr(settings, "PROCESSOR_ADAPTER", DEFAULT_PROCESSOR))
