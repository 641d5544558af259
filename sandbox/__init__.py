"""The sandbox processor: a separate service that behaves like a card acquirer.

It runs as its own process (``python -m sandbox``) with its own
settings (``sandbox.settings``) and its own database. It is not one of
the platform's INSTALLED_APPS: the platform learns what it did only through its
HTTP API and its webhooks. See ``sandbox/README.md``.
"""
