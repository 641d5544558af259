"""Defence in depth: no log record leaves the process with a card number in it.

The guards (edge.middleware) refuse card numbers before anything is logged; this filter is the
second line, for whatever a guard did not see (an exception message, a processor's answer, a path
logged by a library). It masks every card-number-like run (core.cards, the same rule as the guards)
in the record's message, its exception text and its stack, keeping the last four digits.

``CardNumberFilter`` is attached to every handler in ``config/settings.py`` ``LOGGING``;
``MaskingGunicornLogger`` attaches it to gunicorn's access and error logs (``--logger-class``).
"""

import logging

from core.cards import mask_card_numbers


def mask_record(record: logging.LogRecord) -> None:
    """Mask card numbers in ``record`` in place (message and arguments, exception and stack text)."""
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a record that cannot be formatted: leave it to the handler's own error path
        message = None
    if message is not None:
        masked = mask_card_numbers(message)
        if masked != message:
            record.msg, record.args = masked, None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = mask_card_numbers(record.exc_text)
    if record.stack_info:
        record.stack_info = mask_card_numbers(record.stack_info)


class CardNumberFilter(logging.Filter):
    """A handler (or logger) filter that masks card numbers and never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        mask_record(record)
        return True


try:
    from gunicorn.glogging import Logger as _GunicornLogger
except ImportError:  # pragma: no cover - gunicorn is only needed to serve
    _GunicornLogger = None

if _GunicornLogger is not None:

    class MaskingGunicornLogger(_GunicornLogger):
        """gunicorn's logger with ``CardNumberFilter`` on its access and error logs.

        The access log writes the request's path (``%(U)s``): a card number typed into a URL would
        otherwise reach it before Django refuses the request.
        """

        def setup(self, cfg):
            super().setup(cfg)
            for log in (self.error_log, self.access_log):
                if not any(isinstance(existing, CardNumberFilter) for existing in log.filters):
                    log.addFilter(CardNumberFilter())
