"""No card number is kept: after card numbers sent in every written form to every entry point of a real web
process, a dump of the database and every log hold none (issue 12, "Done when"; docs/security.md).

The suite's own databases are rolled back or flushed after each test, so this test makes its own traffic:
the web started exactly as the Procfile starts it (granian, its masked logging configuration and access-log
format, everything it prints to a file), the sandbox processor, ordinary successful traffic (payments created,
confirmed, captured and refunded, a bank transfer and an external account for payouts, a dispute with evidence,
a webhook endpoint, a signed processor webhook, a staff refund in the admin) and, for every written form of every
card number of the corpus, a request to every entry point that takes a string. Then, before the database is
flushed, it reads:

- ``pg_dump`` of the test database: every cell of every table, JSON cells element by element, and every
  session decoded;
- the server's output (its access log, its own log and Django's, at DEBUG), every file the web
  process wrote under its ``VAR_DIR``, what the sandbox logged meanwhile, and what this process logged or
  printed (caplog, capsys);

and finds no card number in them, by the rule (``core.cards``) and as the raw digits and the written forms.
"""

import importlib
import json
import logging
import re
import subprocess
import time
import uuid
from urllib.parse import quote

import pytest
import requests
from django.apps import apps as global_apps
from django.contrib.admin.utils import quote as admin_quote
from django.contrib.sessions.models import Session

from core.cards import contains_card_number, normalise
from edge.middleware import text_holds_card_number
from gateways.registry import processor as processor_named
from gateways.sandbox_acquirer.webhooks import SIGNATURE_HEADER, signature_header
from payments.dispute_services import dispute_apply_processor_dispute
from payments.models import Dispute, Payment, Refund
from tests.conftest import requires_postgres, test_database_url
from tests.core.test_cards import FOUND
from tests.processes import clean_env, free_port, start_procfile_web, stop, wait_for_http
from tests.staff import PASSWORD, staff_user, totp_code, totp_device

pytestmark = [pytest.mark.slow, requires_postgres]

groups_migration = importlib.import_module("backoffice.migrations.0002_staff_groups")

# --- The corpus: card numbers in every written form -----------------------------------------------------

# The card numbers behind FOUND (tests/core/test_cards.py, the rule's own corpus), and a few more brands.
FOUND_PANS = ["4242424242424242", "378282246310005", "30569309025904", "6234567890123456780", "501800000009"]
MORE_PANS = ["5555555555554444", "6011111111111117", "3530111333300000", "4000056655665556"]
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def written_forms(pan: str) -> dict[str, str]:
    """``pan`` in some of the ways a person or a program writes it."""
    groups = " ".join(pan[i : i + 4] for i in range(0, len(pan), 4))
    return {
        "plain": pan,
        "spaces": groups,
        "dashes": groups.replace(" ", "-"),
        "nbsp": groups.replace(" ", "\u00a0"),
        "full-width": pan.translate(FULL_WIDTH),
        "letters touching": f"ref{pan}x",
        "json \\u escapes": "".join(f"\\u{ord(c):04x}" for c in pan),
    }


CORPUS = dict(FOUND) | {f"{pan} {name}": text for pan in MORE_PANS for name, text in written_forms(pan).items()}
PANS = FOUND_PANS + MORE_PANS
# Accepted where the API takes a bank account number (docs/security.md): a Luhn-valid 16-digit account number
# is forwarded to the processor, and only its last four digits and a fingerprint may be kept.
BANK_ACCOUNT_NUMBER = "4111111111111111"
PROCESSOR_WEBHOOK_SECRET = "whsec_test_processor_secret"  # config/test_settings.py, in both processes
SENSITIVE_DIGITS = [*PANS, BANK_ACCOUNT_NUMBER]


def test_the_corpus_is_made_of_card_numbers():
    assert all(contains_card_number(text) for text in CORPUS.values())
    digits = {re.sub(r"\D", "", normalise(text)) for text in CORPUS.values()}
    assert all(any(pan in found for pan in PANS) for found in digits), "every form is of a known PAN"


# --- Where a card number could be left behind -----------------------------------------------------------


def leaks_in_text(source: str, text: str) -> list[str]:
    """Card numbers in ``text`` (a log, a file), line by line: by the rule and as raw digits or written forms."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if contains_card_number(line):
            found.append(f"{source}:{number}: {line[:300]!r}")
    found += [f"{source}: holds {digits}" for digits in SENSITIVE_DIGITS if digits in text]
    found += [f"{source}: holds {name!r}" for name, written in CORPUS.items() if written in text]
    return found


def _copy_cell(cell: str) -> str:
    """A value of pg_dump's COPY text format, unescaped; a ``bytea`` value (a stored response body) decoded."""
    if cell == "\\N":
        return ""
    value = re.sub(r"\\(.)", lambda m: {"t": "\t", "n": "\n", "r": "\r"}.get(m.group(1), m.group(1)), cell)
    if re.fullmatch(r"\\x(?:[0-9a-f]{2})*", value):
        return bytes.fromhex(value[2:]).decode("utf-8", errors="replace")
    return value


def leaks_in_dump(dump: str) -> list[str]:
    """Card numbers in a plain pg_dump: each cell of each COPY row (JSON element by element), each other line."""
    found, table, decoded = [], None, []
    for line in dump.splitlines():
        if table is None:
            if line.startswith("COPY "):
                table = line.split()[1]
            elif contains_card_number(line):
                found.append(f"dump: {line[:300]!r}")
            continue
        if line == "\\.":
            table = None
            continue
        for column, raw in enumerate(line.split("\t")):
            cell = _copy_cell(raw)
            decoded.append(cell)
            if text_holds_card_number(cell):
                found.append(f"dump: {table} column {column}: {cell[:300]!r}")
    dump = "\n".join([dump, *decoded])
    found += [f"dump: holds {digits}" for digits in SENSITIVE_DIGITS if digits in dump]
    found += [f"dump: holds {name!r}" for name, written in CORPUS.items() if written in dump]
    normalised = normalise(dump)
    found += [f"dump, normalised: holds {digits}" for digits in SENSITIVE_DIGITS if digits in normalised]
    return found


def pg_dump() -> str:
    result = subprocess.run(
        ["pg_dump", "--no-owner", "--no-privileges", f"--dbname={test_database_url()}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


# A line of the Procfile's access log: address, "method path", status, time.
ACCESS_LINE = re.compile(r'^\S+ "[A-Z]+ \S*" \d{3} \d+ms$')


# --- Talking to the web process ---------------------------------------------------------------------------


class Web:
    def __init__(self, base: str, api_key: str):
        self.base = base
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {api_key}"

    def call(
        self,
        method: str,
        path: str,
        *,
        body=None,
        raw: bytes | None = None,
        key=None,
        headers=None,
        content_type: str = "application/json",
    ) -> requests.Response:
        headers = dict(headers or {})
        if method == "POST":
            headers["Idempotency-Key"] = key if key is not None else str(uuid.uuid4())
        if body is not None:
            raw = json.dumps(body).encode()
        if raw is not None:
            headers["Content-Type"] = content_type
        return self.session.request(method, self.base + path, data=raw, headers=headers, timeout=30)


def payment_body(**fields) -> dict:
    return {"amount": 1999, "currency": "USD", "payment_method": {"type": "card", "token": "tok_visa"}, **fields}


def charge_event(event_id: str, payment: Payment, **card) -> dict:
    """A processor ``charge.succeeded`` event for ``payment``, as the sandbox sends it."""
    now = int(time.time())
    return {
        "id": event_id,
        "object": "event",
        "type": "charge.succeeded",
        "created": now,
        "data": {
            "object": {
                "id": payment.processor_charge_id,
                "object": "charge",
                "reference": payment.id,
                "amount": payment.amount,
                "currency": payment.currency,
                "status": "captured",
                "amount_captured": payment.amount,
                "amount_refunded": 0,
                "captured": True,
                "decline_code": None,
                "failure_message": None,
                "card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030, **card},
                "created": now,
            }
        },
    }


class Admin:
    """A staff member's browser: signed in through the login page with a password and a TOTP code."""

    def __init__(self, base: str):
        self.base = base
        self.session = requests.Session()

    def csrf(self) -> str:
        if "csrftoken" not in self.session.cookies:
            self.session.get(f"{self.base}/admin/login/", timeout=30)
        return self.session.cookies["csrftoken"]

    def post(self, path: str, data: dict, **kwargs) -> requests.Response:
        return self.session.post(
            self.base + path,
            data={"csrfmiddlewaretoken": self.csrf(), **data},
            allow_redirects=False,
            timeout=30,
            **kwargs,
        )

    def login(self, user, **fields) -> requests.Response:
        form = {
            "username": user.get_username(),
            "password": PASSWORD,
            "next": "/admin/",
            "otp_token": totp_code(totp_device(user)),
            **fields,
        }
        return self.post("/admin/login/", form)


# --- The test ---------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_no_card_number_is_kept_in_the_database_or_any_log(api_key, merchant, sandbox, tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    # This test's own HTTP client logs the URLs it requests, card numbers included: that is not the platform.
    caplog.set_level(logging.INFO, logger="urllib3")
    sandbox_log_offset = len(sandbox.log_text())
    groups_migration.grant(global_apps, None)
    support = staff_user("sam.support", "Support")
    port, folder = free_port(), tmp_path / "web"
    folder.mkdir()
    env = clean_env(
        DJANGO_SETTINGS_MODULE="tests.security.web_settings",
        DATABASE_URL=test_database_url(),
        PROCESSOR_BASE_URL=sandbox.base_url,
        VAR_DIR=str(folder / "var"),
        DJANGO_SECURE_COOKIES="0",
        PYTHONUNBUFFERED="1",
    )
    web = start_procfile_web(port, env, folder / "web.log", workers=2, threads=4)
    not_refused: list[str] = []
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_http(f"{base}/healthz", process=web)
        api = Web(base, api_key)
        ordinary = make_ordinary_traffic(api, base, support, sandbox)
        for name, written in CORPUS.items():
            not_refused += send_everywhere(api, name, written, ordinary)
        not_refused += send_to_the_admin(Admin(base), support, ordinary)
        healthy = requests.get(f"{base}/healthz", timeout=10)
    finally:
        stop(web)

    dump = pg_dump()
    leaks = leaks_in_dump(dump)
    for session in Session.objects.all():
        leaks += leaks_in_text(f"session {session.pk[:8]}", json.dumps(session.get_decoded(), ensure_ascii=False))
    captured = capsys.readouterr()
    logs = {
        str(path.relative_to(tmp_path)): path.read_text(errors="replace")
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
    logs["caplog"] = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    logs["stdout"], logs["stderr"] = captured.out, captured.err
    for source, text in {**logs, "sandbox.log": sandbox.log_text()[sandbox_log_offset:]}.items():
        leaks += leaks_in_text(source, text)
    assert not leaks, f"{len(leaks)} card numbers were kept:\n" + "\n".join(leaks[:80])

    # Nor is any secret logged; the API key is not stored either (only its HMAC; a webhook signing secret is,
    # as signing needs it: docs/security.md).
    secrets = {
        "the merchant's API key": api_key,
        "a webhook signing secret": ordinary["webhook_secret"],
        "the staff password": PASSWORD,
        "the processor's API key": sandbox.api_key,
        "the processor's webhook secret": PROCESSOR_WEBHOOK_SECRET,
    }
    logged = [
        f"{name} in {source}" for name, secret in secrets.items() for source, text in logs.items() if secret in text
    ]
    assert not logged and api_key not in dump, logged

    # The scan read something real: the traffic was stored and logged.
    access_log = "\n".join(
        line for line in (folder / "web.log").read_text().splitlines() if '" 4' in line or '" 2' in line
    )
    assert access_log.count("\n") > len(CORPUS) * 10 and "pan_not_allowed" not in access_log
    assert "/api/v1/payments/***" in access_log, "a refused path is in the access log, masked"
    assert "COPY public.payments_payment" in dump and ordinary["payment"].id in dump
    assert healthy.status_code == 200
    assert not not_refused, "accepted, not refused:\n" + "\n".join(not_refused)


def make_ordinary_traffic(api: Web, base: str, support, sandbox) -> dict:
    """Successful requests of every kind, so that every table the card numbers could reach holds rows."""
    created = api.call(
        "POST", "/api/v1/payments", body=payment_body(description="order 1042, blue mug", metadata={"order": "1042"})
    )
    assert created.status_code == 201, created.text
    payment_id = created.json()["id"]
    confirmed = api.call("POST", f"/api/v1/payments/{payment_id}/confirm")
    assert confirmed.json()["status"] == "succeeded", confirmed.text
    for amount in (500, 1499):
        refunded = api.call("POST", "/api/v1/refunds", body={"payment": payment_id, "amount": amount})
        assert refunded.status_code == 201 and refunded.json()["status"] == "succeeded", refunded.text
    manual = api.call("POST", "/api/v1/payments", body=payment_body(amount=7000, confirm=True, capture_method="manual"))
    assert manual.json()["status"] == "requires_capture", manual.text
    assert api.call("POST", f"/api/v1/payments/{manual.json()['id']}/capture").json()["status"] == "succeeded"
    account = {
        "country": "US",
        "routing_number": "110000000",
        "account_number": BANK_ACCOUNT_NUMBER,
        "holder_name": "Jane Doe",
    }
    transfer = api.call(
        "POST",
        "/api/v1/payments",
        body={"amount": 5000, "currency": "USD", "payment_method": {"type": "bank_transfer", "bank_account": account}},
    )
    assert transfer.status_code == 201 and transfer.json()["payment_method"]["bank_transfer"]["last4"] == "1111"
    # The same account added for payouts (an external account) is kept as token, last four and fingerprint too.
    payout_account = api.call("POST", "/api/v1/external_accounts", body={"currency": "USD", "bank_account": account})
    assert payout_account.status_code == 201 and payout_account.json()["last4"] == "1111", payout_account.text
    endpoint = api.call(
        "POST", "/api/v1/webhook_endpoints", body={"url": "http://127.0.0.1:9/hooks/orders", "events": ["*"]}
    )
    assert endpoint.status_code == 201, endpoint.text
    for path in (
        "/api/v1/payments?limit=5",
        f"/api/v1/payments/{payment_id}",
        "/api/v1/refunds",
        "/api/v1/events",
        "/api/v1/balance",
        "/api/v1/balance_transactions",
        "/api/v1/disputes",
        "/api/v1/account",
    ):
        assert api.call("GET", path).status_code == 200, path

    # A dispute the sandbox opens on a real charge, applied as its webhook would be; evidence through the API.
    disputed = Payment.objects.get(
        pk=api.call("POST", "/api/v1/payments", body=payment_body(amount=6000, confirm=True)).json()["id"]
    )
    answer = processor_named("sandbox").open_dispute(
        processor_charge_id=disputed.processor_charge_id, reason="fraudulent"
    )
    dispute = dispute_apply_processor_dispute(answer=answer, actor="test:security")
    text = "Delivered on 2026-03-02, signed for by the customer."
    evidence = api.call("POST", f"/api/v1/disputes/{dispute.id}/evidence", body={"uncategorized_text": text})
    assert evidence.status_code == 200, evidence.text
    second = Payment.objects.get(
        pk=api.call("POST", "/api/v1/payments", body=payment_body(amount=6500, confirm=True)).json()["id"]
    )
    admin_dispute = dispute_apply_processor_dispute(
        answer=processor_named("sandbox").open_dispute(
            processor_charge_id=second.processor_charge_id, reason="general"
        ),
        actor="test:security",
    )

    # A signed processor webhook, stored under its event id.
    event = json.dumps(charge_event(f"evt_ok_{uuid.uuid4().hex[:8]}", Payment.objects.get(pk=payment_id))).encode()
    header = signature_header(PROCESSOR_WEBHOOK_SECRET, int(time.time()), event)
    delivered = requests.post(
        f"{base}/webhooks/processor/sandbox/",
        data=event,
        timeout=30,
        headers={"Content-Type": "application/json", SIGNATURE_HEADER: header},
    )
    assert delivered.status_code == 200, delivered.text

    # A staff refund in the admin, its note kept in the audit trail.
    admin = Admin(base)
    assert admin.login(support).status_code == 302
    page = f"/admin/payments/payment/{admin_quote(manual.json()['id'])}/refund/"
    refunded = admin.post(
        page,
        {
            "amount": "1.00",
            "reason": "requested_by_customer",
            "token": uuid.uuid4().hex,
            "note": "Customer called on 2026-03-02 about order 1042.",
        },
    )
    assert refunded.status_code == 302 and Refund.objects.filter(payment_id=manual.json()["id"]).exists()
    return {
        "payment": Payment.objects.get(pk=payment_id),
        "dispute": dispute,
        "admin_dispute": admin_dispute,
        "webhook_secret": endpoint.json()["secret"],
    }


def send_everywhere(api: Web, name: str, written: str, ordinary: dict) -> list[str]:
    """``written`` to every API entry point that takes a string; what was not refused with pan_not_allowed."""
    payment, dispute = ordinary["payment"], ordinary["dispute"]
    utf8 = written.encode()
    raw_json = lambda body: json.dumps(body, ensure_ascii=False).encode()  # noqa: E731 - UTF-8, not \u escapes
    attempts = {
        "description": dict(body=payment_body(description=f"card {written} exp 12/30")),
        "metadata value": dict(body=payment_body(metadata={"note": written})),
        "metadata key": dict(body=payment_body(metadata={written: "x"})),
        "nested key": dict(
            body=payment_body(payment_method={"type": "card", "token": "tok_visa", "extra": {"a": [{written: 1}]}})
        ),
        "token": dict(body=payment_body(payment_method={"type": "card", "token": written})),
        "utf-8 body": dict(raw=raw_json(payment_body(description=written))),
        "utf-16 body": dict(
            raw=raw_json(payment_body(description=written)).decode().encode("utf-16"),
            content_type="application/json; charset=utf-16",
        ),
        "not json": dict(raw=b"amount=1999&note=" + utf8, content_type="text/plain"),
        # The Procfile's server (granian) hands Django no header whose value holds bytes outside ASCII: such a key
        # never reaches the platform, and the request is refused as having none.
        "idempotency key": dict(
            body=payment_body(),
            key=f"order-{written}".encode(),
            code="pan_not_allowed" if written.isascii() else "idempotency_key_missing",
        ),
        "query string": dict(method="GET", path=f"/api/v1/payments?created[gte]=1&q={quote(written)}"),
        "query name": dict(method="GET", path=f"/api/v1/payments?{quote(written)}=1"),
        "url path": dict(method="GET", path=f"/api/v1/payments/{quote(written)}"),
        "url path, confirm": dict(path=f"/api/v1/payments/{quote(written)}/confirm", body={}),
        "url path outside the api": dict(method="GET", path=f"/orders/{quote(written)}/", code=None),
        "webhook url": dict(
            path="/api/v1/webhook_endpoints", body={"url": f"https://example.com/hooks/{written}", "events": ["*"]}
        ),
        # (A form written with percent escapes, escaped again, is not decoded twice: docs/security.md.)
        "webhook url, escaped": None
        if "%" in written
        else dict(
            path="/api/v1/webhook_endpoints",
            body={"url": f"https://example.com/hooks/{quote(written)}", "events": ["*"]},
        ),
        "webhook events": dict(
            path="/api/v1/webhook_endpoints", body={"url": "http://127.0.0.1:9/h", "events": [written]}
        ),
        "dispute evidence": dict(
            path=f"/api/v1/disputes/{dispute.id}/evidence",
            body={"uncategorized_text": f"the customer paid with {written}"},
        ),
        "refund metadata": dict(
            path="/api/v1/refunds", body={"payment": payment.id, "amount": 1, "metadata": {"card": written}}
        ),
        "refund reason": dict(path="/api/v1/refunds", body={"payment": payment.id, "amount": 1, "reason": written}),
    }
    missed = []
    for where, attempt in attempts.items():
        if attempt is None:
            continue
        method, path = attempt.pop("method", "POST"), attempt.pop("path", "/api/v1/payments")
        code = attempt.pop("code", "pan_not_allowed")
        response = api.call(method, path, **attempt)
        refused = response.status_code == 400 and (code is None or f'"{code}"' in response.text)
        if not refused:
            missed.append(f"{name} in the {where}: {response.status_code} {response.text[:200]}")

    # Headers other than the Idempotency-Key are neither stored nor logged, so they are not refused: only kept.
    headers = {
        "User-Agent": f"shop/1.0 ({written})".encode(),
        "Referer": f"https://shop.example/{quote(written)}",
        "X-Request-Id": utf8,
    }
    api.call("GET", f"/api/v1/payments/{payment.id}", headers=headers)

    # The processor's webhook route: a correctly signed event that carries the number.
    event = charge_event(f"evt_{uuid.uuid4().hex[:12]}", payment, number=written, name=f"J DOE {written}")
    body = json.dumps(event, ensure_ascii=False).encode()
    header = signature_header(PROCESSOR_WEBHOOK_SECRET, int(time.time()), body)
    response = requests.post(
        f"{api.base}/webhooks/processor/sandbox/",
        data=body,
        timeout=30,
        headers={"Content-Type": "application/json", SIGNATURE_HEADER: header},
    )
    if response.status_code != 400 or '"pan_not_allowed"' not in response.text:
        missed.append(f"{name} in a processor webhook: {response.status_code} {response.text[:200]}")
    return missed


ADMIN_FORMS = [
    "4242 4242 4242 4242",
    "4242.4242.4242.4242",
    "4242\u00a04242\u00a04242\u00a04242",
    "４２４２４２４２４２４２４２４２",
    "card4242424242424242exp",
    "3782 822463 10005",
    "5555-5555-5555-4444",
]


def send_to_the_admin(admin: Admin, support, ordinary: dict) -> list[str]:
    """Card numbers typed into the back office's forms; what was not sent back with the guard's message."""
    missed = []
    # A sign-in whose username is a card number: refused before it is tried (django-axes never sees it).
    response = admin.post("/admin/login/", {"username": ADMIN_FORMS[0], "password": "wrong", "otp_token": "1"})
    if response.status_code != 302:
        missed.append(f"login username: {response.status_code}")
    # A failed sign-in (a wrong password that is a card number: password fields are not scanned, never stored
    # in clear, and django-axes masks them in what it records); by another user than the one who signs in
    # below, as a successful sign-in deletes that user's failures.
    response = admin.post("/admin/login/", {"username": "fay.finance", "password": ADMIN_FORMS[0], "otp_token": "1"})
    if response.status_code != 200:
        missed.append(f"a failed sign-in: {response.status_code}")
    assert admin.login(support).status_code == 302
    evidence_page = f"/admin/payments/dispute/{admin_quote(ordinary['admin_dispute'].pk)}/evidence/"
    refund_page = f"/admin/payments/payment/{admin_quote(ordinary['payment'].pk)}/refund/"
    for written in ADMIN_FORMS:
        forms = {
            "dispute evidence": (
                evidence_page,
                {
                    "customer_communication": f"Paid with {written}.",
                    "shipping_documentation": "Delivered.",
                    "refund_policy": "",
                    "uncategorized_text": "",
                },
            ),
            "refund note": (
                refund_page,
                {
                    "amount": "0.01",
                    "reason": "requested_by_customer",
                    "token": uuid.uuid4().hex,
                    "note": f"customer card {written} was charged twice",
                },
            ),
        }
        for where, (page, form) in forms.items():
            response = admin.post(page, form)
            if response.status_code != 302 or response.headers.get("Location") != page:
                missed.append(f"{written!r} in the admin's {where}: {response.status_code}")
    if Dispute.objects.get(pk=ordinary["admin_dispute"].pk).evidence:
        missed.append("the admin's dispute evidence was stored")
    return missed


# --- What django-axes records of a sign-in -------------------------------------------------------------------


@pytest.mark.django_db
def test_a_card_number_in_a_sign_ins_headers_or_query_is_refused_and_not_kept():
    """django-axes keeps the User-Agent, the Accept header and the query string of every sign-in attempt:
    the guard refuses a request carrying a card number there before axes sees it."""
    from axes.models import AccessAttempt, AccessLog
    from django.test import Client

    from tests.staff import login_form

    groups_migration.grant(global_apps, None)
    user = staff_user("sam.support", "Support")
    written = "4242 4242 4242 4242"
    query = f"?next={quote(f'/admin/?card={written}')}"
    for headers, path in (
        ({"HTTP_USER_AGENT": f"Mozilla/5.0 ({written})"}, "/admin/login/"),
        ({"HTTP_ACCEPT": f"text/html;card={written}"}, "/admin/login/"),
        ({}, f"/admin/login/{query}"),
    ):
        for password in ("wrong", None):
            form = {**login_form(user), "password": "wrong"} if password else login_form(user)
            assert Client().post(path, form, **headers).status_code == 400
    assert not AccessAttempt.objects.exists() and not AccessLog.objects.exists()
    Client().post("/admin/login/", {**login_form(user), "password": "wrong"}, HTTP_USER_AGENT="Mozilla/5.0")
    assert AccessAttempt.objects.count() == 1, "a sign-in without a card number is recorded as before"
    kept = [str(value) for row in AccessAttempt.objects.values() for value in row.values()]
    assert not [value for value in kept if contains_card_number(value)]
