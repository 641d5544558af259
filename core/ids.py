"""Opaque, prefixed, time-ordered ids: ``pay_01JD2W7Q3X…``.

The 26 characters after the prefix are a ULID: 48 bits of milliseconds since the
epoch then 80 random bits, in Crockford base32. Ids of one type therefore sort
by creation time, which is what cursor pagination ("newest first") and
primary-key-ordered locking rely on.
"""

import os
import re
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


def new_id(prefix: str) -> str:
    """A new id such as ``pay_01JD2W7Q3XK8Y2M4V9R5T6B7CZ``."""
    milliseconds = time.time_ns() // 1_000_000
    randomness = int.from_bytes(os.urandom(10), "big")
    return f"{prefix}_{_encode(milliseconds, 10)}{_encode(randomness, 16)}"


def id_pattern(prefix: str) -> re.Pattern:
    return re.compile(rf"^{re.escape(prefix)}_[{_ALPHABET}]{{{ULID_LENGTH}}}$")
