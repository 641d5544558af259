"""The merchant API, /api/v1/. Each app contributes its own routes."""

from django.urls import include, path

urlpatterns = [
    path("", include("merchants.api.urls")),
    path("", include("payments.api.urls")),
    path("", include("payouts.api.urls")),
    path("", include("ledger.api.urls")),
    path("", include("events.api.urls")),
    path("", include("checkout.api.urls")),
]
