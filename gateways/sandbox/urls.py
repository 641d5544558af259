from django.urls import path

from gateways.sandbox import views

urlpatterns = [
    path("healthz", views.healthz),
    path("v1/tokens", views.tokens),
    path("v1/tokens/<str:token_id>", views.token_detail),
    path("v1/charges", views.charges),
    path("v1/charges/<str:charge_id>", views.charge_detail),
    path("v1/charges/<str:charge_id>/capture", views.charge_capture),
    path("v1/charges/<str:charge_id>/void", views.charge_void),
    path("v1/events", views.events),
    path("v1/events/<str:event_id>", views.event_detail),
    path("v1/control/faults", views.control_faults),
    path("v1/control/webhooks/resend", views.control_webhook_resend),
]

handler404 = "gateways.sandbox.views.not_found"
handler500 = "gateways.sandbox.views.server_error"
