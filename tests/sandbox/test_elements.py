"""The sandbox's hosted card field (``/elements/…``), against the real sandbox process: framed only by the origin
that asked for it, under a policy of its own; a card becomes a token there, and the number is kept nowhere."""

import sqlite3

import pytest
import requests

pytestmark = pytest.mark.slow

ORIGIN = "https://pay.example:8443"


def test_the_card_field_may_be_framed_by_the_asking_origin_only(sandbox_server):
    response = requests.get(f"{sandbox_server.base_url}/elements/card", params={"origin": ORIGIN}, timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
    policy = dict(part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
    assert policy["frame-ancestors"] == ORIGIN
    assert (policy["default-src"], policy["script-src"], policy["connect-src"]) == ("'none'", "'self'", "'self'")
    assert "X-Frame-Options" not in response.headers and response.headers["Referrer-Policy"] == "no-referrer"
    html = response.text
    assert f'data-origin="{ORIGIN}"' in html and '<script src="card.js"></script>' in html
    for label in ('for="number"', 'for="expiry"', 'for="cvc"'):
        assert label in html
    assert "onclick" not in html and "<script>" not in html
    script = requests.get(f"{sandbox_server.base_url}/elements/card.js", timeout=10)
    assert script.status_code == 200 and script.headers["Content-Type"].startswith("application/javascript")
    assert "postMessage(message, origin)" in script.text  # never "*"
    assert requests.get(f"{sandbox_server.base_url}/elements/other.js", timeout=10).status_code == 404


@pytest.mark.parametrize(
    "origin",
    ["", "javascript:alert(1)", "https://pay.example/path", "https://pay.example:8443 'unsafe-inline'", "*", "x"],
)
def test_an_origin_that_is_not_one_is_refused(sandbox_server, origin):
    response = requests.get(f"{sandbox_server.base_url}/elements/card", params={"origin": origin}, timeout=10)
    assert response.status_code == 400


def test_a_card_becomes_a_token_and_its_number_is_kept_nowhere(sandbox_server):
    number = "4000000000000002"
    response = requests.post(
        f"{sandbox_server.base_url}/elements/tokens",
        json={"number": number, "exp_month": 12, "exp_year": 2040, "cvc": "123"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"].startswith("tok_") and body["card"] == {"brand": "visa", "last4": "0002"}
    assert number not in response.text
    # The platform's key sees the same token, with the behaviour of the card it stands for.
    detail = sandbox_server.request("GET", f"/v1/tokens/{body['id']}").json()
    assert detail["card"]["last4"] == "0002" and detail["behaviour"] == "generic_decline"
    refused = requests.post(
        f"{sandbox_server.base_url}/elements/tokens",
        json={"number": "4242424242424241", "exp_month": 12, "exp_year": 2040, "cvc": "123"},
        timeout=10,
    )
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "card_number_invalid"
    assert "4242424242424241" not in refused.text
    assert requests.get(f"{sandbox_server.base_url}/elements/tokens", timeout=10).status_code == 405
    with sqlite3.connect(sandbox_server.database_path) as database:
        for (table,) in database.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            for row in database.execute(f'SELECT * FROM "{table}"').fetchall():  # noqa: S608 - names from sqlite
                assert number not in " ".join(map(str, row)), table
    assert number not in sandbox_server.log_text()
