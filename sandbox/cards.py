"""Test cards and tokens: what each one makes the sandbox do. Pure functions, no storage.

A card number lives only in the request that carries it: ``card_from_number``
reduces it to brand, last four digits and behaviour, which is all the sandbox
ever stores.
"""

from dataclasses import dataclass

APPROVE = "approve"
GENERIC_DECLINE = "generic_decline"
INSUFFICIENT_FUNDS = "insufficient_funds"
PROCESSING_ERROR = "processing_error"
TIMEOUT = "timeout"
CREATE_DISPUTE = "create_dispute"
# Approved, but every refund of the charge fails (the card was closed meanwhile).
REFUND_FAILURE = "refund_failure"
REFUND_FAILURE_REASON = "expired_or_canceled_card"
BEHAVIOURS = (APPROVE, GENERIC_DECLINE, INSUFFICIENT_FUNDS, PROCESSING_ERROR, TIMEOUT, CREATE_DISPUTE, REFUND_FAILURE)
DECLINES = {
    GENERIC_DECLINE: "Your card was declined.",
    INSUFFICIENT_FUNDS: "Your card has insufficient funds.",
}

# Test card numbers (all Luhn-valid) and the behaviour each one selects.
TEST_CARD_BEHAVIOURS = {
    "4242424242424242": APPROVE,
    "5555555555554444": APPROVE,
    "4000000000000002": GENERIC_DECLINE,
    "4000000000009995": INSUFFICIENT_FUNDS,
    "4000000000000119": PROCESSING_ERROR,
    "4000000000000408": TIMEOUT,
    "4000000000000259": CREATE_DISPUTE,
    "4000000000005126": REFUND_FAILURE,
}


@dataclass(frozen=True)
class Card:
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    behaviour: str


# Tokens that exist without tokenisation, as in api.md.
FIXED_TOKENS = {
    "tok_visa": Card("visa", "4242", 12, 2030, APPROVE),
    "tok_mastercard": Card("mastercard", "4444", 12, 2030, APPROVE),
    "tok_chargeDeclined": Card("visa", "0002", 12, 2030, GENERIC_DECLINE),
    "tok_insufficientFunds": Card("visa", "9995", 12, 2030, INSUFFICIENT_FUNDS),
    "tok_processingError": Card("visa", "0119", 12, 2030, PROCESSING_ERROR),
    "tok_timeout": Card("visa", "0408", 12, 2030, TIMEOUT),
    "tok_createDispute": Card("visa", "0259", 12, 2030, CREATE_DISPUTE),
    "tok_refundFailure": Card("visa", "5126", 12, 2030, REFUND_FAILURE),
}


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def brand_for(number: str) -> str:
    """The card brand from the number's prefix (IIN ranges of the major schemes)."""
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"51", "52", "53", "54", "55"} or 2221 <= int(number[:4] or 0) <= 2720:
        return "mastercard"
    if number[:2] in {"34", "37"}:
        return "amex"
    return "unknown"


def card_from_number(number: str, exp_month: int, exp_year: int) -> Card:
    """The storable facts of a (valid) card number: never the number itself."""
    return Card(
        brand=brand_for(number),
        last4=number[-4:],
        exp_month=exp_month,
        exp_year=exp_year,
        behaviour=TEST_CARD_BEHAVIOURS.get(number, APPROVE),
    )
