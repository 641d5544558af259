from django.urls import path

from sandbox import elements_views, views, wallet_views

urlpatterns = [
    path("healthz", views.healthz),
    path("v1/tokens", views.tokens),
    path("v1/tokens/<str:token_id>", views.token_detail),
    path("v1/bank_accounts", views.bank_accounts),
    path("v1/bank_accounts/<str:bank_account_id>", views.bank_account_detail),
    path("v1/charges", views.charges),
    path("v1/charges/<str:charge_id>", views.charge_detail),
    path("v1/charges/<str:charge_id>/capture", views.charge_capture),
    path("v1/charges/<str:charge_id>/void", views.charge_void),
    path("v1/refunds", views.refunds),
    path("v1/refunds/<str:refund_id>", views.refund_detail),
    path("v1/payouts", views.payouts),
    path("v1/payouts/<str:payout_id>", views.payout_detail),
    path("v1/disputes", views.disputes),
    path("v1/disputes/<str:dispute_id>", views.dispute_detail),
    path("v1/disputes/<str:dispute_id>/evidence", views.dispute_evidence),
    path("v1/disputes/<str:dispute_id>/close", views.dispute_close),
    path("v1/settlements/<str:day>.csv", views.settlement_report),
    path("v1/fx_rates", views.fx_rates),
    path("v1/events", views.events),
    path("v1/events/<str:event_id>", views.event_detail),
    path("v1/control/faults", views.control_faults),
    path("v1/control/webhooks/resend", views.control_webhook_resend),
    path("v1/control/disputes", views.control_disputes),
    path("v1/control/settlements/inject", views.control_settlement_inject),
    # The customer's side of a wallet charge: HTML pages, no API key.
    path("wallet/<str:charge_id>", wallet_views.approval_page),
    path("wallet/<str:charge_id>/approve", wallet_views.approve),
    path("wallet/<str:charge_id>/decline", wallet_views.decline),
    # Hosted card fields for a payment page to frame: the card goes to the sandbox, only a token to the page.
    path("elements/card", elements_views.card_page),
    path("elements/tokens", elements_views.tokens),
    path("elements/<str:name>", elements_views.asset),
]

handler404 = "sandbox.views.not_found"
handler500 = "sandbox.views.server_error"
