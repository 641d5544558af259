"""The case study's report in the admin: staff only (signed in with their second factor), linked from the index."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from casestudy.report import render_html
from tests.casestudy.report_results import RESULTS
from tests.staff import PASSWORD, client_for, staff_user, verified_login

URL = "/admin/casestudy/report/"


@pytest.fixture
def reports(settings, tmp_path):
    """VAR_DIR in a folder of the test's own; returns its reports/ folder (where the run writes)."""
    settings.VAR_DIR = tmp_path
    return tmp_path / "reports"


@pytest.fixture
def report(reports):
    return render_html(RESULTS, reports)


@pytest.fixture
def staff(db):
    return staff_user("sam.support")  # staff in no group: the report needs no permission beyond the admin's


def test_staff_get_the_newest_report_as_it_was_written(staff, report):
    response = client_for(staff).get(URL)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response.content == report.read_bytes()
    assert b"naive: 37 customers charged twice" in response.content
    # No script may run in the admin's origin, whatever the file holds; the page needs none.
    policy = response["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert response["X-Frame-Options"] == "DENY"
    assert "no-cache" in response["Cache-Control"]  # the admin's never_cache: a new run shows at once

    render_html({**RESULTS, "seed": 99}, report.parent)
    assert b"Seed 99," in client_for(staff).get(URL).content


def test_without_a_report_staff_are_told_how_to_make_one(staff, reports):
    response = client_for(staff).get(URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert "No case study report yet" in page
    assert "make casestudy" in page
    assert str(reports / "casestudy.html") in page
    assert 'id="user-tools"' in page  # inside the admin's own page


def test_anonymous_visitors_are_sent_to_the_sign_in(report):
    response = Client().get(URL)
    assert response.status_code == 302
    assert response["Location"] == f"/admin/login/?next={URL}"


def test_a_user_who_is_not_staff_is_sent_to_the_sign_in(db, report):
    carol = User.objects.create_user("carol", "carol@example.com", PASSWORD)  # not staff
    client = verified_login(Client(), carol)  # even with a second factor recorded in the session
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert b"customers charged twice" not in response.content


def test_staff_signed_in_without_their_second_factor_are_sent_to_the_sign_in(staff, report):
    client = Client()
    client.force_login(staff)  # the password alone: the session is not verified by a TOTP code
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_the_admin_index_links_to_the_report(staff, reports):
    page = client_for(staff).get("/admin/").content.decode()
    assert f'<a href="{URL}">Case study: naive design against refined, measured</a>' in page


def test_the_admin_index_still_lists_the_apps_above_the_link(db, reports):
    root = User.objects.create_superuser("root", "root@example.com", PASSWORD)
    page = client_for(root).get("/admin/").content.decode()
    assert page.index('class="app-payments module') < page.index('id="reports-module"')
