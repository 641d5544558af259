"""Each acquirer call timed and its failures counted (``core.metrics``), whichever adapter serves the acquirer.

The registry instruments every adapter it builds (``instrument``), so a new acquirer's adapter is measured
without a line of its own, and services see the adapter unchanged (same class, same attributes).
"""

import functools
import time

from core.metrics import processor_errors, processor_request_duration
from gateways.base import (
    CardDeclined,
    Processor,
    ProcessorNotReached,
    ProcessorRequestRejected,
    ProcessorUnavailable,
)

# The calls that go to the acquirer over the network: the Processor protocol less the two that only read
# what is handed to them (parse_webhook, read_settlement_report).
OPERATIONS = (
    "health",
    "retrieve_token",
    "authorize",
    "capture",
    "void",
    "lookup",
    "charges_for",
    "refund",
    "lookup_refund",
    "retrieve_dispute",
    "submit_dispute_evidence",
    "accept_dispute",
    "tokenize_bank_account",
    "create_payout",
    "lookup_payout",
    "retrieve_payout",
    "fx_rates",
    "settlement_report",
)


def error_kind(error: BaseException) -> str:
    """The label a failed call is counted under: what it means for money, as ``gateways.base`` defines it."""
    if isinstance(error, CardDeclined):
        return "declined"
    if isinstance(error, ProcessorRequestRejected):
        return "rejected"
    if isinstance(error, ProcessorNotReached):
        return "not_reached"
    if isinstance(error, ProcessorUnavailable):
        return "unavailable"
    return "error"


def _timed(adapter: Processor, method, acquirer: str, operation: str):
    duration = processor_request_duration.labels(acquirer, operation)
    # The method is looked up on the class at each call (unless the instance had its own): a method replaced on
    # the class later (a test's monkeypatch, a hot fix) is the one called, as it would be without the timing.
    own = adapter.__dict__.get(operation)

    def current():
        return own if own is not None else getattr(type(adapter), operation).__get__(adapter)

    @functools.wraps(method)
    def call(*args, **kwargs):
        started = time.perf_counter()
        try:
            return current()(*args, **kwargs)
        except Exception as error:
            processor_errors.labels(acquirer, operation, error_kind(error)).inc()
            raise
        finally:
            duration.observe(time.perf_counter() - started)

    call.instrumented = True
    return call


def instrument(adapter: Processor, acquirer: str) -> Processor:
    """Time ``adapter``'s network calls under ``acquirer``'s name; returns the same object. Each method is
    replaced on the instance only (the class, and any other instance, are untouched); calling it twice is
    harmless."""
    for operation in OPERATIONS:
        method = getattr(adapter, operation, None)
        if method is None or getattr(method, "instrumented", False):
            continue
        setattr(adapter, operation, _timed(adapter, method, acquirer, operation))
    return adapter
