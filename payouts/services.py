"""Writes for external accounts: the bank accounts a merchant's payouts go to.

What every function here guarantees:

- The bank details are tokenised with the processor before anything is written, outside any transaction
  (``external_account_tokenize``); the platform keeps only the processor's token, the last four characters,
  the processor's fingerprint, the bank's name, the country and the currency.
- Each currency of a merchant has at most one default account, and has one as long as it has any account:
  its first account becomes the default, ``default_for_currency`` moves it, and the default cannot be deleted
  while other accounts of its currency exist (``ExternalAccountIsDefault``). The switch is one transaction;
  a partial unique constraint refuses a second default whatever the code does.
- The writes of one merchant's accounts are serialised by a lock on the merchant's row (``_merchant_lock``),
  taken first in each transaction: two concurrent switches run one after the other, and the last one wins.
- Each change is in the audit trail, in its own transaction.
- Deleting is soft (``deleted_at``): a payout that went to the account keeps naming it.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from core.audit import audit_record
from core.db import assert_no_transaction
from gateways.base import BankAccountDetails
from merchants.models import Merchant
from payments.methods.bank_transfer import BankTransfer, bank_account_tokenize
from payments.routing import Tokenized, route_choose
from payouts import selectors
from payouts.errors import ExternalAccountIsDefault
from payouts.models import ExternalAccount


@dataclass(frozen=True)
class ExternalAccountCreated:
    """The account a create request made, or (``created`` False) the one an earlier execution of the same
    request (the same Idempotency-Key) made."""

    account: ExternalAccount
    created: bool


def external_account_tokenize(
    *, merchant: Merchant, currency: str, bank_account: dict
) -> Tokenized[BankAccountDetails]:
    """Tokenise ``bank_account`` (validated by ``BankAccountInput``) with the processor that takes the merchant's
    bank transfers in ``currency`` (``payments.routing.route_choose``; its fallback when that one cannot be
    reached): payouts to the account go there. No transaction may be open.

    Raises InvalidRequestError ``bank_account_invalid`` (``param`` ``bank_account[<field>]``) when the processor
    refuses the account, ProcessorUnavailableError (503) when it cannot be asked; nothing is written either way.
    """
    assert_no_transaction("Tokenising a bank account")
    route = route_choose(merchant=merchant, currency=currency, payment_method_type=BankTransfer.type)
    return bank_account_tokenize(account=bank_account, route=route, param="bank_account")


def _merchant_lock(merchant: Merchant) -> None:
    # FOR NO KEY UPDATE, not FOR UPDATE: it serialises the writes of this merchant's external accounts without
    # blocking the inserts that refer to the merchant (payments, refunds…), whose foreign keys take FOR KEY SHARE.
    list(Merchant.objects.select_for_update(no_key=True).filter(pk=merchant.pk).values_list("pk", flat=True))


def _state(account: ExternalAccount) -> dict:
    """What the audit trail keeps of an account: never its token."""
    return {
        "currency": account.currency,
        "country": account.country,
        "last4": account.last4,
        "fingerprint": account.fingerprint,
        "bank_name": account.bank_name,
        "processor": account.processor,
        "default_for_currency": account.default_for_currency,
        "deleted": account.deleted_at is not None,
    }


def _take_default(*, merchant: Merchant, currency: str) -> str | None:
    """Clear the currency's default (under the merchant's lock); returns the id of the account that was it."""
    previous = selectors.external_account_default(merchant=merchant, currency=currency)
    if previous is None:
        return None
    ExternalAccount.objects.filter(pk=previous.pk).update(default_for_currency=False)
    return previous.pk


def external_account_create(
    *,
    merchant: Merchant,
    currency: str,
    tokenized: Tokenized[BankAccountDetails],
    default_for_currency: bool,
    actor: str,
    idempotency_key: str | None = None,
    checkpoint: Callable[[ExternalAccount], None] | None = None,
) -> ExternalAccountCreated:
    """Store the tokenised account as the merchant's account for payouts in ``currency``, in one transaction
    with its audit entry and ``checkpoint(account)`` (the Idempotency-Key's recovery point).

    It is the currency's default when it is the currency's first account (whatever ``default_for_currency``
    says), or when ``default_for_currency`` is True, in which case the previous default stops being it in the
    same transaction. With ``idempotency_key``: an account this key already made is returned (``created``
    False) and nothing is written.
    """
    details = tokenized.details
    with transaction.atomic():
        _merchant_lock(merchant)
        if idempotency_key:
            earlier = ExternalAccount.objects.filter(merchant=merchant, idempotency_key=idempotency_key).first()
            if earlier is not None:
                return ExternalAccountCreated(account=earlier, created=False)
        has_default = selectors.external_account_default(merchant=merchant, currency=currency) is not None
        previous = _take_default(merchant=merchant, currency=currency) if default_for_currency else None
        account = ExternalAccount.objects.create(
            merchant=merchant,
            currency=currency,
            country=details.country,
            last4=details.last4,
            fingerprint=details.fingerprint,
            bank_name=details.bank_name,
            processor=tokenized.route.processor,
            processor_token=details.processor_id,
            default_for_currency=default_for_currency or not has_default,
            idempotency_key=idempotency_key or None,
        )
        audit_record(
            actor=actor,
            action="external_account.create",
            obj=account,
            after=_state(account),
            reason=f"the default for {currency} instead of {previous}" if previous else "",
        )
        if checkpoint is not None:
            checkpoint(account)
    return ExternalAccountCreated(account=account, created=True)


def external_account_make_default(*, merchant: Merchant, external_account_id: str, actor: str) -> ExternalAccount:
    """Make the merchant's account (not deleted: else ExternalAccountNotFound) the default of its currency, in one
    transaction that also clears the previous default. The default already: nothing is written."""
    with transaction.atomic():
        _merchant_lock(merchant)
        account = selectors.external_account_get(merchant=merchant, external_account_id=external_account_id)
        if account.default_for_currency:
            return account
        before = _state(account)
        previous = _take_default(merchant=merchant, currency=account.currency)
        ExternalAccount.objects.filter(pk=account.pk).update(default_for_currency=True)
        account.default_for_currency = True
        audit_record(
            actor=actor,
            action="external_account.make_default",
            obj=account,
            before=before,
            after=_state(account),
            reason=f"the default for {account.currency} instead of {previous}" if previous else "",
        )
    return account


def external_account_delete(*, merchant: Merchant, external_account_id: str, actor: str) -> ExternalAccount:
    """Delete the merchant's account softly: it is no longer listed, fetched or paid to, and its row stays.

    Refused with ExternalAccountIsDefault when it is its currency's default and the currency has other accounts
    (make one of them the default first); the last account of a currency may be deleted, leaving the currency
    with no account. An account deleted already, or another merchant's, is ExternalAccountNotFound."""
    with transaction.atomic():
        _merchant_lock(merchant)
        account = selectors.external_account_get(merchant=merchant, external_account_id=external_account_id)
        if account.default_for_currency:
            others = selectors.external_accounts_of(merchant=merchant, currency=account.currency)
            if others.exclude(pk=account.pk).exists():
                raise ExternalAccountIsDefault(
                    f"This is the default external account for {account.currency} payouts. Make another "
                    f"{account.currency} account the default (POST /api/v1/external_accounts/{{id}} with "
                    '"default_for_currency": true), then delete this one.',
                    param="id",
                )
        before = _state(account)
        account.deleted_at, account.default_for_currency = timezone.now(), False
        ExternalAccount.objects.filter(pk=account.pk).update(deleted_at=account.deleted_at, default_for_currency=False)
        audit_record(actor=actor, action="external_account.delete", obj=account, before=before, after=_state(account))
    return account
