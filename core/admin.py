"""What every app's admin pages share (this module registers nothing)."""


class ReadOnlyAdminMixin:
    """Nobody adds, changes or deletes here (superusers included); viewing needs the ``view_`` permission."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
