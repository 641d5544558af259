"""The limits of an object's ``metadata`` (Stripe's): checked by the API's field and by the services that merge it."""

MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_VALUE_LENGTH = 500
