"""Test wallets: the sources that stand for one, and the rules of their approval page. Pure functions."""

import hmac
import secrets
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# The wallet sources ``POST /v1/charges`` accepts, and the wallet each one stands for.
WALLETS = {"wallet_sandboxpay": "sandboxpay"}
WALLET_BEHAVIOUR = "wallet"
CUSTOMER_DECLINED = "customer_declined"
CUSTOMER_DECLINED_MESSAGE = "The customer declined the payment in their wallet."
MAX_RETURN_URL_LENGTH = 2000


def new_action_token() -> str:
    """The secret a wallet charge's approval page carries in its form: only who loaded the page can decide."""
    return secrets.token_urlsafe(24)


def action_token_matches(expected: str | None, given: str | None) -> bool:
    return bool(expected) and isinstance(given, str) and hmac.compare_digest(expected.encode(), given.encode())


def approval_url(public_base: str, charge_id: str) -> str:
    return f"{public_base.rstrip('/')}/wallet/{charge_id}"


def return_url_valid(url: str) -> bool:
    """An absolute http(s) URL with a host: nowhere else (``javascript:``, ``data:``…) may the page send anyone."""
    if not url or len(url) > MAX_RETURN_URL_LENGTH or any(char in url for char in "\r\n\t <>\"'"):
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def return_redirect(url: str, *, charge_id: str, status: str) -> str:
    """``url`` with ``charge`` and ``status`` added to its query, as the customer is sent back to the merchant."""
    parts = urlsplit(url)
    query = [
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if name not in ("charge", "status")
    ]
    query += [("charge", charge_id), ("status", status)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))
