"""Which processor the platform talks to."""

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from gateways.base import Processor


@cache
def _processor(path: str) -> Processor:
    return import_string(path)()


def get_processor() -> Processor:
    """The processor adapter, one cached instance per process (it holds a pooled HTTP session).

    ``settings.PROCESSOR_ADAPTER`` (a dotted path) replaces the sandbox with another adapter.
    """
    return _processor(settings.PROCESSOR_ADAPTER)


def processor_outside_transaction(what: str = "calling the processor") -> Processor:
    """The processor adapter for a network call, refused while a database transaction holds locks.

    Design rule: no transaction or row lock is ever held across a processor call.
    Every platform service that talks to the processor gets the adapter here.
    """
    from core.db import assert_no_transaction

    assert_no_transaction(what)
    return get_processor()
