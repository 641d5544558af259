"""The back office's middleware, run for every request except the merchant API's and the processor's webhooks.

Sessions, CSRF, staff sign-in, the second factor, messages and sign-in lockouts (``settings.BACK_OFFICE_MIDDLEWARE``)
serve the pages staff use in a browser. A merchant API request authenticates with its key and a processor's
webhook with its signature; neither carries a session or a cookie, and their views are exempt from CSRF, so
this middleware only costs them CPU (about 0.5 ms of a create-and-confirm's web time). Django has no middleware per
URL, so this one builds the back office's chain inside itself, exactly as Django's handler builds its own:
each middleware's ``process_view``, ``process_template_response`` and ``process_exception`` still run, in
Django's order, for every request that goes through the chain.
"""

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.core.handlers.exception import convert_exception_to_response
from django.utils.module_loading import import_string

from edge.middleware import API_PREFIX, PROCESSOR_WEBHOOK_PREFIX

WITHOUT_BACK_OFFICE = (API_PREFIX, PROCESSOR_WEBHOOK_PREFIX)


def without_back_office(request) -> bool:
    """The requests that authenticate themselves (a key, a signature) and skip the back office's middleware."""
    return request.path_info.startswith(WITHOUT_BACK_OFFICE)


class BackOfficeMiddleware:
    """``settings.BACK_OFFICE_MIDDLEWARE``, in that order, where ``settings.MIDDLEWARE`` names this class."""

    def __init__(self, get_response):
        self.get_response = get_response
        self._view_hooks, self._template_hooks, self._exception_hooks = [], [], []
        handler = convert_exception_to_response(get_response)
        for path in reversed(settings.BACK_OFFICE_MIDDLEWARE):
            try:
                middleware = import_string(path)(handler)
            except MiddlewareNotUsed:
                continue
            if hasattr(middleware, "process_view"):
                self._view_hooks.insert(0, middleware.process_view)
            if hasattr(middleware, "process_template_response"):
                self._template_hooks.append(middleware.process_template_response)
            if hasattr(middleware, "process_exception"):
                self._exception_hooks.append(middleware.process_exception)
            handler = convert_exception_to_response(middleware)
        self._chain = handler

    def __call__(self, request):
        if without_back_office(request):
            return self.get_response(request)
        return self._chain(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if without_back_office(request):
            return None
        for hook in self._view_hooks:
            response = hook(request, view_func, view_args, view_kwargs)
            if response is not None:
                return response
        return None

    def process_template_response(self, request, response):
        if without_back_office(request):
            return response
        for hook in self._template_hooks:
            response = hook(request, response)
        return response

    def process_exception(self, request, exception):
        if without_back_office(request):
            return None
        for hook in self._exception_hooks:
            response = hook(request, exception)
            if response is not None:
                return response
        return None
