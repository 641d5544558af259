"""The API's one JSON parser: strict JSON in UTF-8, bounded in size and depth, text PostgreSQL can store.

Every body under /api/v1/ is parsed here (``REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]``), so no
view, serializer or the idempotency fingerprint ever sees:

- a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (1 MB): ``413 body_too_large``;
- a charset other than UTF-8: ``415 content_type_invalid``; bytes that are not UTF-8, a BOM,
  ``NaN``/``Infinity``, a number of more than 4 300 digits, a key given twice or nesting deeper
  than ``MAX_JSON_DEPTH`` objects and arrays: ``400 body_invalid`` (the depth is checked on the
  text before it is decoded, so 2 000 levels never reach Python's recursion limit);
- a string (value or key) holding U+0000, which PostgreSQL cannot store in text, or a lone UTF-16
  surrogate (``"\\ud800"``), which is not a character and cannot be encoded: ``400
  parameter_invalid`` with ``param`` naming where it was, Stripe-style (``metadata[note]``).
"""

import codecs
import json
import re

from django.conf import settings
from django.http.multipartparser import parse_header_parameters
from rest_framework.parsers import JSONParser

from core.errors import InvalidRequestError
from edge.errors import PayloadTooLargeError, UnsupportedMediaTypeError

# Objects and arrays inside one another, the body itself being level 1. The deepest body the API
# takes is 3 levels (payment_method[bank_account][iban]); 32 leaves room and stays far from Python's
# recursion limit (1 000), which the standard library's decoder would otherwise hit.
MAX_JSON_DEPTH = 32

_STRUCTURAL = re.compile(r'[\[\]{}"\\]')
# Characters no text field accepts: NUL, and UTF-16 surrogates (only ever lone ones after decoding).
_FORBIDDEN = re.compile("[\x00\ud800-\udfff]")


def _body_invalid(message: str) -> InvalidRequestError:
    return InvalidRequestError(message, code="body_invalid")


def check_depth(text: str, limit: int = MAX_JSON_DEPTH) -> None:
    """Refuse JSON text nested deeper than ``limit``, counting brackets outside strings only."""
    depth = 0
    in_string = False
    escaped_until = -1
    for match in _STRUCTURAL.finditer(text):
        position = match.start()
        if position < escaped_until:
            continue  # the character after a backslash
        char = text[position]
        if in_string:
            if char == "\\":
                escaped_until = position + 2
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                raise _body_invalid(f"The request body is nested more than {limit} levels deep.")
        elif char in "]}":
            depth -= 1


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _no_duplicate_keys(pairs: list) -> dict:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen = set()
        for key, _value in pairs:
            if key in seen:
                raise _body_invalid(f"The request body gives the key {json.dumps(key)} more than once.")
            seen.add(key)
    return result


def _param(path: list) -> str | None:
    if not path:
        return None
    return str(path[0]) + "".join(f"[{part}]" for part in path[1:])


def check_text(value, path: list | None = None) -> None:
    """Refuse NUL and lone surrogates in every string and key of a decoded JSON value."""
    path = path or []
    if isinstance(value, str):
        if _FORBIDDEN.search(value):
            raise InvalidRequestError(
                f"{_param(path) or 'The request body'} contains a NUL character (U+0000) or a lone surrogate "
                "(U+D800–U+DFFF), which no field accepts.",
                code="parameter_invalid",
                param=_param(path),
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            if _FORBIDDEN.search(key):
                # A key that cannot be named: the object holding it is the parameter in error.
                raise InvalidRequestError(
                    f"{_param(path) or 'The request body'} has a key with a NUL character (U+0000) or a lone "
                    "surrogate (U+D800–U+DFFF), which no field accepts.",
                    code="parameter_invalid",
                    param=_param(path),
                )
            check_text(item, [*path, key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_text(item, [*path, index])


def loads_strict(raw: bytes):
    """Decode a JSON body with every check above; raises ``DomainError`` subclasses (4xx)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _body_invalid("The request body is not valid UTF-8.") from exc
    check_depth(text)
    try:
        data = json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_no_duplicate_keys)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError; so is a 5 000-digit number
        raise _body_invalid("The request body is not valid JSON.") from exc
    check_text(data)
    return data


def size_text(size: int) -> str:
    """``1 MB`` for 1 048 576 bytes, ``64 KB`` for 65 536, else the bytes."""
    for unit, factor in (("MB", 1024 * 1024), ("KB", 1024)):
        if size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"


def _is_utf8(media_type: str | None) -> bool:
    _main, params = parse_header_parameters(media_type or "")
    charset = params.get("charset")
    if charset is None:
        return True
    try:
        return codecs.lookup(charset).name == "utf-8"
    except LookupError:
        return False


class StrictJSONParser(JSONParser):
    """DRF's JSON parser with the limits above. Errors are ``core.errors`` (the contract's shape)."""

    def parse(self, stream, media_type=None, parser_context=None):
        if not _is_utf8(media_type):
            raise UnsupportedMediaTypeError("Send the body as application/json in UTF-8.")
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if limit is not None else stream.read()
        if limit is not None and len(raw) > limit:
            raise PayloadTooLargeError(f"The request body is larger than {size_text(limit)}.")
        return loads_strict(raw)
