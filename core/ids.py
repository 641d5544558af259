"""Opaque, prefixed, time-ordered ids: ``pay_01JD2W7Q3X…``.

The 26 characters after the prefix are a ULID: 48 bits of milliseconds since the
epoch then 80 random bits, in Crockford base32. Ids of one type therefore sort
by creation time, which is what cursor pagination ("newest first") and
primary-key-ordered locking rely on.
"""

import os
import re
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ULID_LENGTH = 26
ID_MAX_LENGTH = 40


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, index = divmod(value, 32)
        chars.append(_ALPHABET[index])
    return "".join(reversed(chars))


_lock = threading.Lock()
_last_milliseconds = 0
_last_randomness = 0


def new_id(prefix: str) -> str:
    """A new id such as ``pay_01JD2W7Q3XK8Y2M4V9R5T6B7CZ``.

    Monotonic within a process: two ids made in the same millisecond differ by an
    increment of the random part (the ULID spec's monotonic mode), so they still sort
    in creation order. Across processes, ids of the same millisecond sort arbitrarily.
    """
    global _last_milliseconds, _last_randomness
    with _lock:
        milliseconds = time.time_ns() // 1_000_000
        if milliseconds <= _last_milliseconds:
            milliseconds = _last_milliseconds
            randomness = _last_randomness + 1
        else:
            randomness = int.from_bytes(os.urandom(10), "big") >> 1  # headroom for increments
        _last_milliseconds, _last_randomness = milliseconds, randomness
    return f"{prefix}_{_encode(milliseconds, 10)}{_encode(randomness, 16)}"


def id_pattern(prefix: str) -> re.Pattern:
    return re.compile(rf"^{re.escape(prefix)}_[{_ALPHABET}]{{{ULID_LENGTH}}}$")
