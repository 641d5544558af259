"""The payouts domain's typed errors, each with a stable code."""

from core.errors import InvalidRequestError, ResourceMissingError


class ExternalAccountNotFound(ResourceMissingError):
    pass


class ExternalAccountIsDefault(InvalidRequestError):
    """The account is its currency's default and other accounts of that currency exist: one of them must be
    made the default first, so that payouts never change destination without the merchant saying so."""

    default_code = "external_account_is_default"
