"""The platform's processing fee, in integer minor units. No float or Decimal touches it."""

from django.conf import settings


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
    """``LEDGER_FEE_PERCENT_BPS`` (basis points of the captured amount) and ``LEDGER_FEE_FIXED`` (minor units per
    currency, 0 for a currency not listed) from settings: by default 2.9 % plus 30 (USD)."""
    bps = settings.LEDGER_FEE_PERCENT_BPS
    fixed = settings.LEDGER_FEE_FIXED
    return bps, fixed


def platform_fee(*, amount: int, currency: str) -> int:
    """The fee on a capture of ``amount``: bps of it rounded half-even, plus the currency's fixed fee.

    Never negative and never more than ``amount``.
    """
    bps, fixed = fee_settings()
    fee = round_half_even(amount * bps, 10_000) + int(fixed.get(currency, 0))
    return max(0, min(fee, amount))


def cross_border_fee(*, amount: int) -> int:
    """``CROSS_BORDER_FEE_BPS`` (default 100) of ``amount`` (minor units of the settlement currency),
    rounded half-even."""
    bps = settings.CROSS_BORDER_FEE_BPS
    return round_half_even(amount * bps, 10_000)
