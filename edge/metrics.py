"""``/metrics`` for Prometheus, and the middleware that counts and times every HTTP request.

Who may scrape (docs/security.md, "Metrics"): the metrics name merchants' volumes, acquirers and backlogs, so
they are never public.

- ``METRICS_TOKEN`` set: the scraper sends ``Authorization: Bearer <token>``; none is 401, another is 403.
- ``METRICS_TOKEN`` unset: 404 when ``DEBUG`` is off (an endpoint nobody configured does not exist), served
  when ``DEBUG`` is on (``make run``'s demo).
- ``METRICS_ALLOWED_IPS`` (addresses or networks, comma-separated) set: a client elsewhere is 403 whatever
  it sends. The address is ``REMOTE_ADDR``, the peer's: behind a proxy, list the proxy's address and keep
  the token (the proxy's clients all look alike).
"""

import hmac
import ipaddress
import time
from functools import cache

from django.conf import settings
from django.http import HttpResponse

from core.errors import PermissionDeniedError, ResourceMissingError
from core.metrics import CONTENT_TYPE, http_request_duration, http_requests, metrics_exposition
from edge.errors import AuthenticationError, MethodNotAllowedError
from edge.responses import error_response

# The label of a request no URL pattern matched (a 404, or refused by a middleware before routing): one
# value, so that a scan of random paths cannot make a label value per path.
UNMATCHED = "<unmatched>"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetricsMiddleware:
    """Counts and times every request by route (the URL pattern that matched, e.g. ``api/v1/payments/<str:id>``,
    never the raw path: ids would make a series per payment), method and status class. First in MIDDLEWARE, so
    it times the whole stack and also counts what a middleware refused."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        match = getattr(request, "resolver_match", None)
        route = (match.route or match.view_name or UNMATCHED) if match is not None else UNMATCHED
        method = request.method if request.method in _METHODS else "other"
        http_requests.labels(route, method, f"{response.status_code // 100}xx").inc()
        http_request_duration.labels(route, method).observe(elapsed)
        return response


@cache
def _allowed_networks(value: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(item, strict=False) for item in value)


def _client_allowed(request) -> bool:
    allowed = tuple(settings.METRICS_ALLOWED_IPS)
    if not allowed:
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in _allowed_networks(allowed))


def _refusal(request):
    """The answer to a scrape that may not see the metrics, or None when it may."""
    token = settings.METRICS_TOKEN
    if not token and not settings.DEBUG:
        return error_response(ResourceMissingError("Not found.", code="resource_missing"))
    if not _client_allowed(request):
        return error_response(PermissionDeniedError("Metrics are not served to this address.", code="forbidden"))
    if not token:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, sent = header.partition(" ")
    if scheme.lower() != "bearer" or not sent.strip():
        response = error_response(
            AuthenticationError("Send the metrics token as Authorization: Bearer <token>.", code="token_missing")
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if not hmac.compare_digest(sent.strip().encode(), token.encode()):
        return error_response(PermissionDeniedError("The metrics token is not valid.", code="token_invalid"))
    return None


def metrics(request):
    """Every metric in Prometheus' text format (``core.metrics``), to a scraper that may see them."""
    if request.method != "GET":
        response = error_response(MethodNotAllowedError(f'Method "{request.method}" not allowed.'))
        response["Allow"] = "GET"
        return response
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    response = HttpResponse(metrics_exposition(), content_type=CONTENT_TYPE)
    response["Cache-Control"] = "no-store"
    return response
