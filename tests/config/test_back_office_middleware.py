"""The back office's middleware (``settings.BACK_OFFICE_MIDDLEWARE``) runs for the back office, not for the API.

Staff pages keep every protection they had: CSRF on every form, the session and sign-in, messages, the sign-in
lockout. A merchant API request and a processor's webhook run without them: no session is read or set, no
cookie is sent back, and they answer exactly as before.
"""

import pytest
from django.conf import settings
from django.test import Client

from tests.staff import LOGIN_URL, client_for, login_form, staff_user

pytestmark = pytest.mark.django_db

ADMIN_MIDDLEWARE = (
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
)


def test_the_back_office_middleware_the_admin_and_axes_need_is_configured():
    """What the silenced checks (admin.E408-E410, axes.W002) would look for, looked for where it now is."""
    for path in (*ADMIN_MIDDLEWARE, "django.middleware.csrf.CsrfViewMiddleware", "axes.middleware.AxesMiddleware"):
        assert path in settings.BACK_OFFICE_MIDDLEWARE
    assert settings.MIDDLEWARE[-1] == "edge.back_office_middleware.BackOfficeMiddleware"
    for path in settings.BACK_OFFICE_MIDDLEWARE:
        assert path not in settings.MIDDLEWARE


def test_a_staff_form_without_its_csrf_token_is_refused_and_with_it_signs_in():
    user = staff_user("casey.csrf", "Support")
    strict = Client(enforce_csrf_checks=True)
    assert strict.post(LOGIN_URL, login_form(user)).status_code == 403
    page = strict.get(LOGIN_URL)
    assert page.status_code == 200 and "csrftoken" in page.cookies
    form = {**login_form(user), "csrfmiddlewaretoken": page.cookies["csrftoken"].value}
    signed_in = strict.post(LOGIN_URL, form)
    assert signed_in.status_code == 302 and "sessionid" in signed_in.cookies
    assert strict.get("/admin/").status_code == 200


def test_a_signed_in_staff_session_is_not_an_api_credential():
    client = client_for(staff_user("sam.session", "Support"))
    assert client.get("/admin/").status_code == 200
    response = client.get("/api/v1/payments")
    assert response.status_code == 401 and response.json()["error"]["type"] == "authentication_error"


def test_an_api_request_reads_and_sets_no_session_or_cookie(api_client):
    response = api_client.get("/api/v1/payments", HTTP_COOKIE="sessionid=anything; csrftoken=anything")
    assert response.status_code == 200
    request = response.wsgi_request
    assert not hasattr(request, "session") and not hasattr(request, "_messages")  # the chain did not run
    assert not response.cookies
    assert "Cookie" not in response.get("Vary", "")
    assert response["X-Frame-Options"] == "DENY"  # what every response carries, the API's too


def test_a_processor_webhook_needs_no_csrf_token_and_gets_no_cookie():
    response = Client(enforce_csrf_checks=True).post(
        "/webhooks/processor/sandbox/", b"{}", content_type="application/json"
    )
    assert response.status_code == 400  # refused for its missing signature, not for CSRF (403)
    assert not hasattr(response.wsgi_request, "session") and not response.cookies
