"""Helpers for the checkout tests: a session made through the API, and its hosted page's paths."""

from urllib.parse import urlsplit

from tests.payments.helpers import post

SESSION = {
    "amount": 2500,
    "currency": "USD",
    "success_url": "https://shop.example/thanks",
    "cancel_url": "https://shop.example/cart",
}


def create_session(client, **fields) -> dict:
    response = post(client, "/api/v1/checkout_sessions", {**SESSION, **fields})
    assert response.status_code == 201, response.content
    return response.json()


def page_path(session: dict) -> str:
    """The path of the session's hosted page (its url without the public base)."""
    return urlsplit(session["url"]).path
