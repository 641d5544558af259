"""The platform's processing fee, in integer minor units. No float or Decimal touches it."""

from django.conf import settings

# 2.9 % of the captured amount …
DEFAULT_FEE_PERCENT_BPS = 290
# … plus a fixed amount per currency, in minor units (0 for a currency not listed).
DEFAULT_FEE_FIXED: dict[str, int] = {"USD": 30, "EUR": 25, "GBP": 20, "JPY": 30, "CAD": 30, "AUD": 30}


def round_half_even(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded to the nearest integer, ties to even (banker's rounding).

    Integer arithmetic only: exact for any size of operands.
    """
    if isinstance(numerator, bool) or isinstance(denominator, bool):
        raise TypeError("round_half_even takes integers")
    if not isinstance(numerator, int) or not isinstance(denominator, int):
        raise TypeError("round_half_even takes integers")
    if denominator == 0:
        raise ZeroDivisionError("round_half_even: denominator is zero")
    if denominator < 0:
        numerator, denominator = -numerator, -denominator
    quotient, remainder = divmod(numerator, denominator)  # floor division: 0 <= remainder < denominator
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        quotient += 1
    return quotient


def fee_settings() -> tuple[int, dict[str, int]]:
    """``LEDGER_FEE_PERCENT_BPS`` and ``LEDGER_FEE_FIXED`` from settings, with the defaults above."""
    bps = getattr(settings, "LEDGER_FEE_PERCENT_BPS", DEFAULT_FEE_PERCENT_BPS)
    fixed = getattr(settings, "LEDGER_FEE_FIXED", DEFAULT_FEE_FIXED)
    return bps, fixed


def platform_fee(*, amount: int, currency: str) -> int:
    """The fee on a capture of ``amount``: bps of it rounded half-even, plus the currency's fixed fee.

    Never negative and never more than ``amount``.
    """
    bps, fixed = fee_settings()
    fee = round_half_even(amount * bps, 10_000) + int(fixed.get(currency, 0))
    return max(0, min(fee, amount))


# Cross-border payments (converted into the merchant's settlement currency) pay this on top, in basis points
# of the converted amount.
DEFAULT_CROSS_BORDER_FEE_BPS = 100


def cross_border_fee(*, amount: int) -> int:
    """``CROSS_BORDER_FEE_BPS`` (default 100) of ``amount`` (minor units of the settlement currency),
    rounded half-even."""
    bps = getattr(settings, "CROSS_BORDER_FEE_BPS", DEFAULT_CROSS_BORDER_FEE_BPS)
    return round_half_even(amount * bps, 10_000)
