"""The checkout domain's typed errors, each with a stable code."""

from core.errors import InvalidRequestError


class CheckoutSessionUnexpectedState(InvalidRequestError):
    default_code = "checkout_session_unexpected_state"
