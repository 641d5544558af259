from django.urls import path

from payments.api import views

urlpatterns = [
    path("payments", views.PaymentListCreateView.as_view(), name="payments"),
    path("payments/<str:payment_id>", views.PaymentDetailView.as_view(), name="payment"),
    path("payments/<str:payment_id>/confirm", views.PaymentConfirmView.as_view(), name="payment-confirm"),
    path("payments/<str:payment_id>/capture", views.PaymentCaptureView.as_view(), name="payment-capture"),
    path("payments/<str:payment_id>/cancel", views.PaymentCancelView.as_view(), name="payment-cancel"),
]
