"""Helpers for the payment tests: posting with idempotency keys, and reading error bodies."""

import uuid


def post(client, path: str, body: dict | None = None, *, key: str | None = None, **extra):
    """POST JSON with a fresh Idempotency-Key unless ``key`` is given."""
    return client.post(
        path, body if body is not None else {}, format="json", HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4()), **extra
    )


def create_payment(client, token: str = "tok_visa", amount: int = 1999, **fields):
    body = {"amount": amount, "currency": "USD", "payment_method": {"type": "card", "token": token}, **fields}
    return post(client, "/api/v1/payments", body)


def error_of(response) -> dict:
    return response.json()["error"]
