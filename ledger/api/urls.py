"""The ledger part of the merchant API; included under /api/v1/ by config.api_urls."""

from django.urls import path

from ledger.api import views

urlpatterns = [
    path("balance", views.BalanceView.as_view(), name="balance"),
    path("balance_transactions", views.BalanceTransactionListView.as_view(), name="balance-transactions"),
    path(
        "balance_transactions/<str:transaction_id>",
        views.BalanceTransactionDetailView.as_view(),
        name="balance-transaction",
    ),
]
