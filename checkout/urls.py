"""The hosted payment page's routes (``checkout.pages``), under /checkout/."""

from django.urls import path

from checkout import pages

urlpatterns = [
    path("<str:session_id>/<str:token>", pages.page, name="checkout-page"),
    path("<str:session_id>/<str:token>/pay", pages.pay, name="checkout-pay"),
    path("<str:session_id>/<str:token>/return", pages.wallet_return, name="checkout-return"),
]
