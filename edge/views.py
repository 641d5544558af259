"""Health check and the JSON error pages for /api/ paths."""

import logging

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import SuspiciousOperation
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET
from django.views.defaults import bad_request as html_bad_request
from django.views.defaults import page_not_found
from django.views.defaults import server_error as html_server_error

from core.errors import InvalidRequestError, ResourceMissingError
from core.health import health_sections
from edge.errors import ServerError
from edge.responses import error_response

logger = logging.getLogger(__name__)


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_broker() -> None:
    if settings.REDIS_URL:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # One attempt: redis-py's client otherwise retries three times with back-off (seconds).
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=2, retry=Retry(NoBackoff(), 0)
        )
        try:
            client.ping()
        finally:
            client.close()
    else:
        folder = settings.CELERY_BROKER_DIR / "queue"
        if not folder.is_dir():
            raise OSError(f"broker folder {folder} is missing")


def _cache_is_shared() -> bool:
    return not settings.CACHES["default"]["BACKEND"].endswith(("LocMemCache", "DummyCache"))


def _check_cache() -> None:
    """A round trip through the very client the rate limit and the card-token cache use."""
    cache.get("healthz")


@require_GET
def healthz(request):
    """200 ``ok`` when every dependency answers; 200 ``degraded`` when only Redis (broker or cache) does not;
    503 ``unavailable`` when the database does not. ``checks`` names each one.

    Why a Redis outage is not a 503: the platform still takes payments without it (the
    rate limit counts per process, card tokens are asked of the processor, the outbox is
    drained by beat once the broker is back; ``core.failsoft``). Every web process shares
    the one Redis, so a load balancer acting on a 503 would take all of them out of
    rotation at once and turn a degradation into an outage. Monitoring alerts on
    ``"status": "degraded"``. Without the database nothing can be served: 503.

    Apps add sections (``core.health``): ``processors`` has each acquirer's ``status`` (up or down) and
    ``latency_ms``, reported without changing the status (an acquirer down is not the platform down).
    """
    checks = {"database": _check_database, "broker": _check_broker}
    if _cache_is_shared():
        checks["cache"] = _check_cache
    results = {}
    for name, check in checks.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - a health check reports any failure
            # One line, no traceback: load balancers probe every few seconds through an outage.
            logger.warning("health check %s failed: %s: %s", name, type(exc).__name__, exc)
            results[name] = "unavailable"
    if results["database"] != "ok":
        status, code = "unavailable", 503
    elif any(result != "ok" for result in results.values()):
        status, code = "degraded", 200
    else:
        status, code = "ok", 200
    broker = "redis" if settings.REDIS_URL else "filesystem"
    return JsonResponse({"status": status, "checks": results, "broker": broker, **health_sections()}, status=code)


# Paths whose every answer, errors included, is in the contract's shape.
JSON_ERROR_PREFIXES = ("/api/", "/webhooks/processor/")


def api_not_found(request, *args, **kwargs):
    return error_response(ResourceMissingError(f"Unrecognised request URL ({request.method}: {request.path})."))


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return api_not_found(request)
    return page_not_found(request, exception)


def server_error(request):
    if request.path.startswith("/api/"):
        return error_response(ServerError())
    return html_server_error(request)


def bad_request(request, exception=None):
    """handler400: Django's own refusals (a body over DATA_UPLOAD_MAX_MEMORY_SIZE, too many parameters,
    a host it does not serve) in the contract's shape under /api/ and the processor's webhook path."""
    if request.path.startswith(JSON_ERROR_PREFIXES):
        from edge.exception_handler import suspicious_operation_to_domain_error

        if isinstance(exception, SuspiciousOperation):
            return error_response(suspicious_operation_to_domain_error(exception))
        return error_response(InvalidRequestError("The request is malformed.", code="request_invalid"))
    return html_bad_request(request, exception)
