"""Showing an amount in minor units to a person (the wallet page). The one place the sandbox formats money."""

# ISO 4217 minor-unit exponents that are not 2.
_EXPONENTS = {
    **dict.fromkeys(
        (
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency, 2)


def format_amount(amount: int, currency: str) -> str:
    """``amount`` minor units as the currency writes it, in integer arithmetic: ``USD 1,999.00``, ``JPY 1,999``,
    ``KWD 1.999``."""
    places = exponent(currency)
    sign = "-" if amount < 0 else ""
    major, minor = divmod(abs(amount), 10**places)
    text = f"{major:,}" + (f".{minor:0{places}d}" if places else "")
    return f"{currency} {sign}{text}"
