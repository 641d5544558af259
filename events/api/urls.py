"""The events part of the merchant API; included under /api/v1/ by config.api_urls."""

from django.urls import path

from events.api import views

urlpatterns = [
    path("events", views.EventListView.as_view(), name="events"),
    path("events/<str:event_id>", views.EventDetailView.as_view(), name="event"),
    path("webhook_endpoints", views.WebhookEndpointListCreateView.as_view(), name="webhook-endpoints"),
    path("webhook_endpoints/<str:endpoint_id>", views.WebhookEndpointDetailView.as_view(), name="webhook-endpoint"),
]
