"""Input parsing shared by the API's views: strict JSON types, money, metadata, unknown parameters."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail, ValidationError

from core.errors import InvalidRequestError
from core.money import MAX_AMOUNT, is_known_currency


class StrictInputSerializer(serializers.Serializer):
    """An input serializer that refuses parameters it does not know (``parameter_unknown``)."""

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


MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_VALUE_LENGTH = 500


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
