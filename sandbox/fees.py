"""The processor's own fees, as its settlement report deducts them. Pure functions, integers only.

These are what the acquirer charges the platform, not what the platform charges
its merchants: the platform's reconciliation compares them with what it expected
to pay, and its own pricing lives in the platform.
"""

BASIS_POINTS = 10_000


def basis_points_of(amount: int, bps: int) -> int:
    """``amount × bps / 10 000`` rounded half-to-even to the minor unit, in integer arithmetic (never a float)."""
    quotient, remainder = divmod(abs(amount) * bps, BASIS_POINTS)
    if remainder * 2 > BASIS_POINTS or (remainder * 2 == BASIS_POINTS and quotient % 2 == 1):
        quotient += 1
    return quotient if amount >= 0 else -quotient


def charge_fee(amount_captured: int, *, bps: int, fixed: int) -> int:
    """The fee on a capture: a percentage (``bps`` basis points, half-even) plus a fixed amount, in minor units."""
    return basis_points_of(amount_captured, bps) + fixed
