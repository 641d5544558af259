"""What every app's admin pages share (this module registers nothing)."""

from django.utils.html import format_html


def cut(text: str, em: int, title: str | None = None):
    """``text`` on one line of at most ``em`` ems, ended with an ellipsis when longer, the whole of it in the
    title: how a list keeps its columns within the screen."""
    return format_html(
        '<span title="{}" style="display: inline-block; max-width: {}em; overflow: hidden; text-overflow: ellipsis;'
        ' white-space: nowrap; vertical-align: bottom">{}</span>',
        title or text,
        em,
        text,
    )


class ReadOnlyAdminMixin:
    """Nobody adds, changes or deletes here (superusers included); viewing needs the ``view_`` permission."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
