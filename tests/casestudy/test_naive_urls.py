"""Production never mounts the naive design: only ``CASESTUDY_NAIVE_ENABLED`` (set by the case-study run in the
web process it starts) does."""

import importlib

import pytest
from django.conf import settings
from django.urls import Resolver404, clear_url_caches, resolve

import config.urls


def test_the_setting_is_off_by_default():
    assert settings.CASESTUDY_NAIVE_ENABLED is False


def test_production_urlconf_has_no_naive_url():
    for url in ("/casestudy/naive/payments", "/casestudy/naive/webhooks/processor"):
        with pytest.raises(Resolver404):
            resolve(url)
    assert not any("casestudy/naive" in str(pattern.pattern) for pattern in config.urls.urlpatterns)


@pytest.mark.django_db
def test_the_naive_payments_url_is_a_404_in_production(client):
    answer = client.post("/casestudy/naive/payments", {}, content_type="application/json")
    assert answer.status_code == 404


def test_the_setting_mounts_it(settings):
    """The gate is the setting itself: config.urls evaluated with it on has the naive design's URLs."""
    settings.CASESTUDY_NAIVE_ENABLED = True
    try:
        importlib.reload(config.urls)
        clear_url_caches()
        assert resolve("/casestudy/naive/payments").url_name == "naive-payments"
    finally:
        settings.CASESTUDY_NAIVE_ENABLED = False
        importlib.reload(config.urls)
        clear_url_caches()
    with pytest.raises(Resolver404):
        resolve("/casestudy/naive/payments")
