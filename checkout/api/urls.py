from django.urls import path

from checkout.api import views

urlpatterns = [
    path("checkout_sessions", views.CheckoutSessionListCreateView.as_view(), name="checkout-sessions"),
    path("checkout_sessions/<str:session_id>", views.CheckoutSessionDetailView.as_view(), name="checkout-session"),
    path(
        "checkout_sessions/<str:session_id>/expire",
        views.CheckoutSessionExpireView.as_view(),
        name="checkout-session-expire",
    ),
]
