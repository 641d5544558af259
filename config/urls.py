from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from casestudy.admin_views import report_view as casestudy_report
from edge import metrics as edge_metrics
from edge import views as edge_views
from payments.api.processor_webhook_views import processor_webhook

urlpatterns = [
    path("healthz", edge_views.healthz, name="healthz"),
    # Prometheus' scrape: a bearer token (METRICS_TOKEN) and/or an address allow-list (edge/metrics.py).
    path("metrics", edge_metrics.metrics, name="metrics"),
    # A page of the admin that is not a model's (behind the admin's own sign-in and second factor).
    path("admin/casestudy/report/", admin.site.admin_view(casestudy_report), name="casestudy-report"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("api/v1/", include("config.api_urls")),
    path("webhooks/processor/<str:name>/", processor_webhook, name="processor-webhook"),
    # The hosted payment page of checkout sessions (a session's ``url``).
    path("checkout/", include("checkout.urls")),
    # Anything else under /api/ is a 404 in the contract's error shape, in DEBUG too.
    re_path(r"^api/", edge_views.api_not_found),
]

# The case study's naive design (issue 16): only in the web process the case-study run starts, never in production.
if settings.CASESTUDY_NAIVE_ENABLED:
    urlpatterns.insert(0, path("casestudy/naive/", include("casestudy.naive.urls")))

handler400 = "edge.views.bad_request"
handler404 = "edge.views.not_found"
handler500 = "edge.views.server_error"
