"""The back office's typed errors. The admin shows their message to the staff member; none is a crash.

A refusal for lack of permission is ``core.staff.StaffPermissionDenied``, raised by every app's services.
"""

from core.errors import InvalidRequestError


class RefundRequestSelfDecision(InvalidRequestError):
    """Maker-checker: whoever asked for a refund cannot approve or reject it."""

    default_code = "refund_request_own"


class RefundRequestAlreadyDecided(InvalidRequestError):
    """The request is no longer pending (someone decided it first)."""

    default_code = "refund_request_already_decided"
