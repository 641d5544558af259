"""Which processor (acquirer) the platform talks to, by name: ``settings.PROCESSORS``."""

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from gateways.base import Processor
from gateways.metrics import instrument


class UnknownProcessor(LookupError):
    """A name that ``settings.PROCESSORS`` does not configure."""


@cache
def _adapter(name: str, path: str) -> Processor:
    # Every call it makes to the acquirer is timed and its failures counted (/metrics).
    return instrument(import_string(path)(name), name)


def processor_names() -> list[str]:
    """Every configured processor, the first (the default's fallback of last resort) first."""
    return list(settings.PROCESSORS)


def processor_exists(name: str) -> bool:
    return name in settings.PROCESSORS


def processor(name: str) -> Processor:
    """The adapter of processor ``name``, one cached instance per (name, adapter) and process (it holds a pooled
    HTTP session). Raises UnknownProcessor for a name that is not configured."""
    try:
        config = settings.PROCESSORS[name]
    except KeyError:
        raise UnknownProcessor(f"no processor is configured under the name {name!r}") from None
    return _adapter(name, config["adapter"])


def processor_outside_transaction(name: str, what: str = "calling the processor") -> Processor:
    """The adapter of processor ``name`` for a network call, refused while a database transaction holds locks.

    Design rule: no transaction or row lock is ever held across a processor call.
    Every platform service that talks to a processor gets its adapter here.
    """
    from core.db import assert_no_transaction

    assert_no_transaction(what)
    return processor(name)
