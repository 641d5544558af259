"""The events part of the merchant API; included under /api/v1/ by config.api_urls."""

from django.urls import path

from events.api import views

urlpatterns = [
    path("events", views.EventListView.as_view(), name="events"),
    path("events/<str:event_id>", views.EventDetailView.as_view(), name="event"),
    path("webhook_endpoints", views.WebhookEndpointListCreateView.as_view(), name="webhook-endpoints"),
    path("webhook_endpoints/<str:endpoint_id>", views.WebhookEndpointDetailView.as_view(), name="webhook-endpoint"),
    path(
        "webhook_endpoints/<str:endpoint_id>/rotate_secret",
        views.WebhookEndpointRotateSecretView.as_view(),
        name="webhook-endpoint-rotate-secret",
    ),
    path(
        "webhook_endpoints/<str:endpoint_id>/deliveries",
        views.WebhookEndpointDeliveryListView.as_view(),
        name="webhook-endpoint-deliveries",
    ),
    path(
        "webhook_endpoints/<str:endpoint_id>/resend",
        views.WebhookEndpointResendView.as_view(),
        name="webhook-endpoint-resend",
    ),
]
