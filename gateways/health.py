"""Each processor's health, as ``/healthz`` and the admin show it: up or down, and how long it took to answer."""

import time
from concurrent.futures import ThreadPoolExecutor

from gateways.base import ProcessorNotReached, ProcessorUnavailable
from gateways.registry import processor, processor_names


def _probe(name: str) -> dict:
    started = time.monotonic()
    try:
        processor(name).health()
    # A word, not the client library's message: /healthz is public and that message names hosts and ports.
    except ProcessorNotReached:
        return {"status": "down", "latency_ms": None, "error": "not_reached"}
    except ProcessorUnavailable:
        return {"status": "down", "latency_ms": None, "error": "unavailable"}
    return {"status": "up", "latency_ms": round((time.monotonic() - started) * 1000, 1)}


def processors_health() -> dict[str, dict]:
    """``{name: {"status": "up" | "down", "latency_ms": …}}`` for every configured processor, asked in parallel
    (so the slowest one bounds the whole, not their sum). Holds no database transaction: it makes network calls."""
    names = processor_names()
    with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        return dict(zip(names, pool.map(_probe, names), strict=True))
