"""Staff as every service sees them: their name as an actor, and the back office's permissions.

The permissions are Django permissions with the app label ``backoffice`` (their owner is the model
``backoffice.StaffPermission``); any app's services check them here, below every app, so that none
imports the back office. Which staff role holds which permission is decided in ``backoffice.roles``.
"""

from core.errors import PermissionDeniedError

# codename -> description. The codenames are what the services and the admin check.
STAFF_PERMISSIONS = {
    "refund_within_threshold": "Can refund a payment up to the approval threshold (above it, request approval)",
    "approve_refund_request": "Can approve or reject another user's refund request",
    "capture_or_cancel_payment": "Can capture or cancel an authorised payment",
    "submit_dispute_evidence": "Can submit evidence for a dispute",
    "accept_dispute": "Can accept (concede) a dispute",
    "make_ledger_adjustment": "Can make a manual ledger adjustment",
    "resolve_reconciliation_exception": "Can resolve a reconciliation exception",
    "hold_payouts": "Can hold or release a merchant's payouts",
    "create_payouts": "Can pay a merchant's available balance out to its bank account",
}


class StaffPermissionDenied(PermissionDeniedError):
    """The staff member's roles do not allow this action."""

    default_code = "staff_permission_denied"


def perm(codename: str) -> str:
    """The full permission name that ``user.has_perm`` expects."""
    if codename not in STAFF_PERMISSIONS:
        raise KeyError(codename)
    return f"backoffice.{codename}"


def staff_actor(user) -> str:
    """How a staff member appears in transitions, refunds and the audit trail."""
    return f"staff:{user.get_username()}"


def require_staff_permission(user, codename: str, what: str) -> None:
    """Raise ``StaffPermissionDenied`` ("You are not allowed to <what>.") unless ``user`` is active and holds it."""
    if not (user.is_active and user.has_perm(perm(codename))):
        raise StaffPermissionDenied(f"You are not allowed to {what}.")
