"""Pointing the platform's processors (``settings.PROCESSORS``) somewhere else for one test."""


def configure_processor(settings, name: str = "sandbox", **changes) -> None:
    """Change processor ``name``'s configuration (``base_url``, ``read_timeout``, ``fee_bps``…) for this test.

    ``settings.PROCESSORS`` is replaced, never mutated, so pytest-django's ``settings`` fixture restores it."""
    processors = {key: dict(value) for key, value in settings.PROCESSORS.items()}
    unknown = set(changes) - set(processors[name])
    if unknown:
        raise KeyError(f"not settings of a processor: {sorted(unknown)}")
    processors[name].update(changes)
    settings.PROCESSORS = processors
