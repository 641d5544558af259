"""Helpers for the payment tests: posting with idempotency keys, and reading error bodies."""

import uuid

from tests.processors import configure_processor


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


def wait_for(condition, timeout: float = 20.0):
    """Poll ``condition`` until it returns something truthy (webhooks arrive asynchronously)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def balance_of(merchant, currency: str = "USD") -> tuple[int, int]:
    """The merchant's (available, pending) balance in ``currency``."""
    from ledger.selectors import balance_get

    balance = balance_get(merchant=merchant)
    available = {amount.currency: amount.amount for amount in balance.available}
    pending = {amount.currency: amount.amount for amount in balance.pending}
    return available.get(currency, 0), pending.get(currency, 0)


def sandbox_sending_webhooks_to(live_server, settings, **env):
    """A sandbox process whose webhooks reach ``live_server``, with the platform pointed at it."""
    from tests.sandbox_process import SandboxProcess

    process = SandboxProcess(
        webhook_url=f"{live_server.url}/webhooks/processor/sandbox/",
        webhook_secret=settings.PROCESSORS["sandbox"]["webhook_secret"],
        env={key: str(value) for key, value in env.items()},
    )
    process.start()
    configure_processor(settings, base_url=process.base_url)
    return process
