"""Sections other apps add to ``/healthz`` (core imports no app: apps register here when they are ready)."""

from collections.abc import Callable

_sections: dict[str, Callable[[], dict]] = {}


def health_section_register(name: str, report: Callable[[], dict]) -> None:
    """Add ``name: report()`` to every ``/healthz`` answer. ``report`` must be quick and must not raise."""
    _sections[name] = report


def health_sections() -> dict[str, dict]:
    return {name: report() for name, report in _sections.items()}
