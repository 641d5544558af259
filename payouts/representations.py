"""External accounts and payouts as the API shows them (docs/api.md), built once by plain functions."""

from payments.representations import timestamp
from payouts.models import ExternalAccount, Payout


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


def payout_representation(payout: Payout) -> dict:
    """The API's ``payout`` object (docs/api.md, "Payouts")."""
    return {
        "id": payout.id,
        "object": "payout",
        "amount": payout.amount,
        "currency": payout.currency,
        "status": payout.status,
        "arrival_date": timestamp(payout.arrival_date),
        "destination": payout.destination_id,
        "automatic": payout.automatic,
        "description": payout.description,
        "failure_code": payout.failure_code,
        "failure_message": payout.failure_message,
        "balance_transaction": payout.balance_transaction,
        "created": timestamp(payout.created),
    }
