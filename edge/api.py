"""Input parsing shared by the API's views: strict JSON types, money, metadata, unknown parameters,
and the shape of the ids in the path and the text of the query string."""

import copy
import re

from django.core.validators import EmailValidator
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.permissions import BasePermission

from core.errors import InvalidRequestError, ResourceMissingError
from core.ids import _ALPHABET, ULID_LENGTH
from core.metadata import MAX_METADATA_KEY_LENGTH, MAX_METADATA_KEYS, MAX_METADATA_VALUE_LENGTH
from core.money import MAX_AMOUNT, is_known_currency

# --- The path and the query string --------------------------------------------------------

# The id in each path parameter: its object's prefix, "_" and a ULID (core.ids). An id of another
# shape names nothing, so it is answered 404 without a query (a NUL byte would make PostgreSQL fail).
PATH_ID_PREFIXES = {
    "payment_id": ("pay", "payment"),
    "refund_id": ("re", "refund"),
    "dispute_id": ("dp", "dispute"),
    "event_id": ("evt", "event"),
    "endpoint_id": ("we", "webhook endpoint"),
    "transaction_id": ("txn", "balance transaction"),
    "external_account_id": ("ea", "external account"),
    "payout_id": ("po", "payout"),
    "session_id": ("cs", "checkout session"),
}
_ULID = f"[{_ALPHABET}]{{{ULID_LENGTH}}}"
_ANY_ID = re.compile(rf"^[a-z]{{2,4}}_{_ULID}$")


def id_pattern_text(prefix: str) -> str:
    """The regular expression of an id with ``prefix``, as the OpenAPI document states it."""
    return rf"^{prefix}_{_ULID}$"


_PATH_ID_RES = {name: re.compile(id_pattern_text(prefix)) for name, (prefix, _noun) in PATH_ID_PREFIXES.items()}


def path_id_error(name: str, value) -> ResourceMissingError | None:
    """A 404 for a path id that is not of its object's shape; None for a well-formed one."""
    pattern = _PATH_ID_RES.get(name, _ANY_ID)
    if isinstance(value, str) and pattern.match(value):
        return None
    prefix, noun = PATH_ID_PREFIXES.get(name, (None, "object"))
    shape = f"{prefix}_ followed by {ULID_LENGTH} letters and digits" if prefix else "a prefix, _ and 26 characters"
    # The id itself is not echoed: it may hold anything (NUL bytes, a card number, 4 000 characters).
    return ResourceMissingError(f"No such {noun}: an id is {shape}.", param="id")


def query_text_error(query_params) -> InvalidRequestError | None:
    """A 400 for a NUL byte in any query parameter's name or value (filters and cursors reach the database)."""
    for key, values in query_params.lists():
        if "\x00" in key:
            return InvalidRequestError(
                "A query parameter's name contains a NUL character (U+0000).", code="parameter_invalid"
            )
        if any("\x00" in value for value in values):
            return InvalidRequestError(
                f"{key} contains a NUL character (U+0000), which no parameter accepts.",
                code="parameter_invalid",
                param=key,
            )
    return None


class WellFormedRequest(BasePermission):
    """Runs after authentication (``DEFAULT_PERMISSION_CLASSES``, after ``IsMerchant``), before any view:
    an id in the path of the wrong shape is ``404 resource_missing``; a NUL byte in the query string
    is ``400 parameter_invalid``. Bodies are ``edge.parsers.StrictJSONParser``'s."""

    def has_permission(self, request, view):
        for name, value in (getattr(view, "kwargs", None) or {}).items():
            if name.endswith("_id"):
                error = path_id_error(name, value)
                if error is not None:
                    raise error
        error = query_text_error(request.query_params)
        if error is not None:
            raise error
        return True


# --- Bodies ----------------------------------------------------------------------------------


class StrictInputSerializer(serializers.Serializer):
    """An input serializer that refuses parameters it does not know (``parameter_unknown``)."""

    def get_fields(self):
        # DRF deep-copies the declared fields for every instance, building each field anew (half of a
        # create-and-confirm's validation). A shallow copy is enough: binding gives the copy its own name and
        # parent, and validating reads a field's settings without changing them.
        return {name: copy.copy(field) for name, field in self._declared_fields.items()}

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = [key for key in data if key not in self.fields]
            if unknown:
                raise ValidationError(
                    {unknown[0]: [ErrorDetail(f"Unknown parameter: {unknown[0]}.", code="parameter_unknown")]}
                )
        return super().to_internal_value(data)


@extend_schema_field({"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_AMOUNT})
class AmountField(serializers.Field):
    """A positive JSON integer in minor units, at most 99 999 999 999. No floats, strings or booleans."""

    default_error_messages = {
        "invalid": "amount must be a positive integer in the currency's minor unit (e.g. 1999 for 19.99 USD).",
        "range": f"amount must be from 1 to {MAX_AMOUNT}.",
    }

    def validate_empty_values(self, data):
        if data is None:
            raise ValidationError(ErrorDetail(self.error_messages["invalid"], code="amount_invalid"))
        return super().validate_empty_values(data)

    def to_internal_value(self, data):
        if type(data) is not int:
            raise ValidationError(ErrorDetail(self.error_messages["invalid"], code="amount_invalid"))
        if not 1 <= data <= MAX_AMOUNT:
            raise ValidationError(ErrorDetail(self.error_messages["range"], code="amount_invalid"))
        return data

    def to_representation(self, value):
        return value


@extend_schema_field({"type": "string", "pattern": "^[A-Z]{3}$", "example": "USD"})
class CurrencyField(serializers.Field):
    """An ISO 4217 code; answered upper-case."""

    def validate_empty_values(self, data):
        if data is None:
            return self.to_internal_value(data)
        return super().validate_empty_values(data)

    def to_internal_value(self, data):
        if not isinstance(data, str) or not is_known_currency(data.upper()):
            raise ValidationError(
                ErrorDetail("currency must be a three-letter ISO 4217 code, such as USD.", code="currency_invalid")
            )
        return data.upper()

    def to_representation(self, value):
        return value


@extend_schema_field(OpenApiTypes.BOOL)
class StrictBooleanField(serializers.Field):
    """A JSON ``true`` or ``false``; not ``"true"``, ``1`` or ``"yes"``."""

    def to_internal_value(self, data):
        if type(data) is not bool:
            raise ValidationError(ErrorDetail("Must be true or false.", code="parameter_invalid"))
        return data

    def to_representation(self, value):
        return value


class StrictCharField(serializers.CharField):
    """A JSON string; numbers and booleans are not silently turned into text."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise ValidationError(ErrorDetail("Must be a string.", code="parameter_invalid"))
        return super().to_internal_value(data)


@extend_schema_field({"type": "string", "format": "email", "maxLength": 254})
class StrictEmailField(StrictCharField):
    """An email address (Django's EmailValidator), at most 254 characters (RFC 5321's limit); kept as written."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 254)
        super().__init__(**kwargs)
        self.validators.append(EmailValidator(message="Must be a valid email address."))


@extend_schema_field(
    {"type": "object", "additionalProperties": {"type": "string", "maxLength": 500}, "maxProperties": 50}
)
class MetadataField(serializers.Field):
    """A flat object of at most 50 string keys (≤ 40 characters) with string values (≤ 500 characters)."""

    def to_internal_value(self, data):
        def invalid(message):
            return ValidationError(ErrorDetail(message, code="metadata_invalid"))

        if not isinstance(data, dict):
            raise invalid("metadata must be an object of string keys and string values.")
        if len(data) > MAX_METADATA_KEYS:
            raise invalid(f"metadata may hold at most {MAX_METADATA_KEYS} keys.")
        for key, value in data.items():
            if not key or len(key) > MAX_METADATA_KEY_LENGTH:
                raise invalid(f"metadata keys must be 1 to {MAX_METADATA_KEY_LENGTH} characters.")
            if not isinstance(value, str):
                raise invalid(f"metadata[{key}] must be a string.")
            if len(value) > MAX_METADATA_VALUE_LENGTH:
                raise invalid(f"metadata[{key}] may be at most {MAX_METADATA_VALUE_LENGTH} characters.")
        return data

    def to_representation(self, value):
        return value


def parse_input(serializer_class, request) -> dict:
    """Validate the JSON body with ``serializer_class``; a 400 in the contract's shape otherwise."""
    data = request.data
    if data is None or data == "":
        data = {}
    if not isinstance(data, dict):
        raise InvalidRequestError("The request body must be a JSON object.", code="body_invalid")
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
