from django.urls import path

from payments.api import refund_views, views

urlpatterns = [
    path("payments", views.PaymentListCreateView.as_view(), name="payments"),
    path("payments/<str:payment_id>", views.PaymentDetailView.as_view(), name="payment"),
    path("payments/<str:payment_id>/confirm", views.PaymentConfirmView.as_view(), name="payment-confirm"),
    path("payments/<str:payment_id>/capture", views.PaymentCaptureView.as_view(), name="payment-capture"),
    path("payments/<str:payment_id>/cancel", views.PaymentCancelView.as_view(), name="payment-cancel"),
    path("refunds", refund_views.RefundListCreateView.as_view(), name="refunds"),
    path("refunds/<str:refund_id>", refund_views.RefundDetailView.as_view(), name="refund"),
    path("disputes", refund_views.DisputeListView.as_view(), name="disputes"),
    path("disputes/<str:dispute_id>", refund_views.DisputeDetailView.as_view(), name="dispute"),
    path("disputes/<str:dispute_id>/evidence", refund_views.DisputeEvidenceView.as_view(), name="dispute-evidence"),
    path("disputes/<str:dispute_id>/accept", refund_views.DisputeAcceptView.as_view(), name="dispute-accept"),
]
