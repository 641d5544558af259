"""External accounts as the API shows them (docs/api.md, "External accounts"), built once by plain functions."""

from payments.representations import timestamp
from payouts.models import ExternalAccount


def external_account_representation(account: ExternalAccount) -> dict:
    """The API's ``external_account`` object: how the processor described the account, never its number."""
    return {
        "id": account.id,
        "object": "external_account",
        "currency": account.currency,
        "country": account.country,
        "last4": account.last4,
        "fingerprint": account.fingerprint,
        "bank_name": account.bank_name,
        "default_for_currency": account.default_for_currency,
        "created": timestamp(account.created),
    }


def external_account_deleted_representation(account: ExternalAccount) -> dict:
    """What ``DELETE /api/v1/external_accounts/{id}`` answers."""
    return {"id": account.id, "object": "external_account", "deleted": True}
