"""The sandbox's exchange rates: a fixed table, optionally nudged by the ``fx_drift_bps`` fault. Decimals only.

Rates are quoted against USD: one US dollar buys ``rate`` units of the quote
currency. They are strings with six decimal places, so that no float ever
carries a rate.
"""

from decimal import ROUND_HALF_EVEN, Decimal

BASE_CURRENCY = "USD"
RATE_PLACES = Decimal("0.000001")
BASIS_POINTS = 10_000
MAX_DRIFT_BPS = 5_000

# Fixed mid-market rates (units of the quote currency per US dollar).
RATES = {
    "EUR": "0.921300",
    "GBP": "0.789500",
    "JPY": "151.230000",
    "KWD": "0.307400",
    "CHF": "0.882100",
    "CAD": "1.365200",
    "AUD": "1.512800",
    "NZD": "1.643500",
    "CNY": "7.238500",
    "HKD": "7.812400",
    "SGD": "1.344600",
    "SEK": "10.452300",
    "NOK": "10.687200",
    "DKK": "6.872900",
    "MXN": "17.082600",
    "INR": "83.312500",
}


def rates_with_drift(drift_bps: int) -> dict[str, str]:
    """Every rate times (1 + ``drift_bps`` / 10 000), rounded half to even to six places, as a string."""
    factor = Decimal(BASIS_POINTS + drift_bps) / BASIS_POINTS
    return {
        currency: str((Decimal(rate) * factor).quantize(RATE_PLACES, rounding=ROUND_HALF_EVEN))
        for currency, rate in RATES.items()
    }
