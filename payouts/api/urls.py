from django.urls import path

from payouts.api import views

urlpatterns = [
    path("external_accounts", views.ExternalAccountListCreateView.as_view(), name="external-accounts"),
    path(
        "external_accounts/<str:external_account_id>",
        views.ExternalAccountDetailView.as_view(),
        name="external-account",
    ),
    path("payouts", views.PayoutListCreateView.as_view(), name="payouts"),
    path("payouts/<str:payout_id>", views.PayoutDetailView.as_view(), name="payout"),
    path("payouts/<str:payout_id>/cancel", views.PayoutCancelView.as_view(), name="payout-cancel"),
]
