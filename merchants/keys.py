"""Making and checking secret API keys. The plain key exists only in the answer that creates it."""

import hashlib
import hmac
import secrets
import string

from django.conf import settings

KEY_PREFIX = "sk_test_"
_RANDOM_LENGTH = 40
_LOOKUP_LENGTH = len(KEY_PREFIX) + 8
_ALPHABET = string.ascii_letters + string.digits


def generate_key() -> str:
    return KEY_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(_RANDOM_LENGTH))


def lookup_prefix(key: str) -> str:
    return key[:_LOOKUP_LENGTH]


def hash_key(key: str) -> str:
    return hmac.new(settings.API_KEY_PEPPER.encode(), key.encode(), hashlib.sha256).hexdigest()


def key_matches(key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_key(key), stored_hash)


def looks_like_key(key: str) -> bool:
    return (
        key.startswith(KEY_PREFIX)
        and len(key) == len(KEY_PREFIX) + _RANDOM_LENGTH
        and all(char in _ALPHABET for char in key[len(KEY_PREFIX) :])
    )
