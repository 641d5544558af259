"""Health check and the JSON error pages for /api/ paths."""

import logging

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET
from django.views.defaults import page_not_found
from django.views.defaults import server_error as html_server_error

from core.errors import ApiServerError, ResourceMissingError
from core.responses import error_response

logger = logging.getLogger(__name__)


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_broker() -> None:
    if settings.REDIS_URL:
        import redis

        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2).ping()
    else:
        folder = settings.CELERY_BROKER_DIR / "queue"
        if not folder.is_dir():
            raise OSError(f"broker folder {folder} is missing")


@require_GET
def healthz(request):
    """200 when every dependency answers, 503 naming the one that does not."""
    checks = {}
    healthy = True
    for name, check in (("database", _check_database), ("broker", _check_broker)):
        try:
            check()
            checks[name] = "ok"
        except Exception:  # noqa: BLE001 - a health check reports any failure
            logger.warning("health check %s failed", name, exc_info=True)
            checks[name] = "unavailable"
            healthy = False
    broker = "redis" if settings.REDIS_URL else "filesystem"
    body = {"status": "ok" if healthy else "unavailable", "checks": checks, "broker": broker}
    return JsonResponse(body, status=200 if healthy else 503)


def api_not_found(request, *args, **kwargs):
    return error_response(ResourceMissingError(f"Unrecognised request URL ({request.method}: {request.path})."))


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return api_not_found(request)
    return page_not_found(request, exception)


def server_error(request):
    if request.path.startswith("/api/"):
        return error_response(ApiServerError())
    return html_server_error(request)
