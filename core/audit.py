"""Writing the audit trail (``core.models.AuditEntry``), always inside the caller's transaction."""

from core.models import AuditEntry


def audit_record(
    *, actor: str, action: str, obj, before: dict | None = None, after: dict | None = None, reason: str = ""
) -> AuditEntry:
    """Append one entry: who did what to which object, the state before and after, and why."""
    return AuditEntry.objects.create(
        actor=actor,
        action=action,
        object_type=obj._meta.model_name,
        object_id=str(obj.pk),
        before=before,
        after=after,
        reason=reason,
    )
