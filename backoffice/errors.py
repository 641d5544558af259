"""The back office's typed errors. The admin shows their message to the staff member; none is a crash."""

from core.errors import ApiError, InvalidRequestError


class StaffPermissionDenied(ApiError):
    """The staff member's groups do not allow this action."""

    status_code = 403
    error_type = "permission_error"
    default_code = "staff_permission_denied"


class RefundRequestSelfDecision(InvalidRequestError):
    """Maker-checker: whoever asked for a refund cannot approve or reject it."""

    default_code = "refund_request_own"


class RefundRequestAlreadyDecided(InvalidRequestError):
    """The request is no longer pending (someone decided it first)."""

    default_code = "refund_request_already_decided"
