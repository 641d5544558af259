from django.urls import path

from payouts.api import views

urlpatterns = [
    path("external_accounts", views.ExternalAccountListCreateView.as_view(), name="external-accounts"),
    path(
        "external_accounts/<str:external_account_id>",
        views.ExternalAccountDetailView.as_view(),
        name="external-account",
    ),
]
