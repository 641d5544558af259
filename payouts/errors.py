"""The payouts domain's typed errors, each with a stable code."""

from core.errors import InvalidRequestError, ResourceMissingError


class ExternalAccountNotFound(ResourceMissingError):
    pass


class ExternalAccountIsDefault(InvalidRequestError):
    """The account is its currency's default and other accounts of that currency exist: one of them must be
    made the default first, so that payouts never change destination without the merchant saying so."""

    default_code = "external_account_is_default"


class PayoutNotFound(ResourceMissingError):
    pass


class PayoutNotCancelable(InvalidRequestError):
    """Only a payout still ``pending`` and not yet taken by the worker that sends it can be canceled: once it may
    have reached the processor, the money may be on its way."""

    default_code = "payout_not_cancelable"


class ExternalAccountMissing(InvalidRequestError):
    """No account to pay out to: the merchant has no default account in the payout's currency, or the
    ``destination`` named is not one of its accounts in that currency."""

    default_code = "external_account_missing"


class PayoutsHeld(InvalidRequestError):
    """The platform holds the merchant's payouts (a review by its finance team): no payout is created or sent
    until the hold is lifted. The hold's reason is internal and never shown to the merchant."""

    default_code = "payouts_held"


class PayoutHoldUnexpectedState(InvalidRequestError):
    """Holding payouts that are held already, or releasing payouts that are not held."""

    default_code = "payout_hold_unexpected_state"
