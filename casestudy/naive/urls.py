"""Mounted under ``casestudy/naive/`` by config/urls.py only when ``CASESTUDY_NAIVE_ENABLED`` is true."""

from django.urls import path

from casestudy.naive import views

urlpatterns = [
    path("payments", views.naive_payments, name="naive-payments"),
    path("webhooks/processor", views.naive_processor_webhook, name="naive-processor-webhook"),
]
