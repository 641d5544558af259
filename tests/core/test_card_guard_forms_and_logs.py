"""Card numbers in the back office's forms and uploads are refused, and no log record carries one (issue 12)."""

import io
import logging
import subprocess
import sys

import pytest
from django.conf import settings
from django.contrib.admin.utils import quote
from django.core.files.uploadedfile import SimpleUploadedFile
from django.forms.models import model_to_dict

from core.logging import CardNumberFilter, mask_record
from core.models import AuditEntry
from edge.middleware import FORM_MESSAGE
from payments.models import Dispute, Refund
from tests.backoffice.conftest import messages_of, payment_row, support  # noqa: F401 - support is a fixture
from tests.backoffice.test_admin_disputes import dispute_row
from tests.staff import client_for

PAN = "4242424242424242"
FORMS_OF_PAN = [
    "4242 4242 4242 4242",
    "4242.4242.4242.4242",
    "4242\u00a04242\u00a04242\u00a04242",
    "４２４２４２４２４２４２４２４２",
    f"card{PAN}exp",
]


def _logged(caplog) -> str:
    return "\n".join(record.getMessage() for record in caplog.records)


@pytest.mark.django_db
@pytest.mark.parametrize("written", FORMS_OF_PAN)
def test_dispute_evidence_with_a_card_number_is_refused_in_the_admin(merchant, support, caplog, written):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    dispute = dispute_row(payment_row(merchant))
    before, audit = model_to_dict(dispute), AuditEntry.objects.count()
    client = client_for(support)
    evidence = {
        "customer_communication": f"The customer paid with {written}, see attached.",
        "shipping_documentation": "Delivered.",
        "refund_policy": "",
        "uncategorized_text": "",
    }
    response = client.post(f"/admin/payments/dispute/{quote(dispute.pk)}/evidence/", evidence, follow=True)
    assert response.status_code == 200 and FORM_MESSAGE in messages_of(response)
    assert model_to_dict(Dispute.objects.get(pk=dispute.pk)) == before and AuditEntry.objects.count() == audit
    assert "4242" not in _logged(caplog)


@pytest.mark.django_db
def test_a_refund_note_with_a_card_number_is_refused_in_the_admin(merchant, support, caplog):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    payment = payment_row(merchant)
    client = client_for(support)
    page = f"/admin/payments/payment/{quote(payment.pk)}/refund/"
    form = {
        "amount": "1.00",
        "reason": "requested_by_customer",
        "token": "once-1",
        "note": "customer card 4242-4242-4242-4242 was charged twice",
    }
    response = client.post(page, form, follow=True)
    assert FORM_MESSAGE in messages_of(response)
    assert Refund.objects.count() == 0 and AuditEntry.objects.filter(action__startswith="refund").count() == 0
    assert "4242-4242" not in _logged(caplog)


@pytest.mark.django_db
def test_any_admin_post_and_uploaded_text_file_is_scanned(client, caplog):
    caplog.set_level(logging.DEBUG)
    response = client.post("/admin/login/", {"username": f"x{PAN}", "password": "p"}, follow=True)
    assert FORM_MESSAGE in messages_of(response)
    upload = SimpleUploadedFile("settlement.csv", b"id,card\n1,4242 4242 4242 4242\n", content_type="text/csv")
    response = client.post("/admin/login/", {"username": "x", "password": "p", "report": upload}, follow=True)
    assert FORM_MESSAGE in messages_of(response)
    utf16 = SimpleUploadedFile("notes.txt", "card 4242 4242 4242 4242".encode("utf-16"), content_type="text/plain")
    response = client.post("/admin/login/", {"username": "x", "password": "p", "report": utf16}, follow=True)
    assert FORM_MESSAGE in messages_of(response)
    # A password is never stored in clear and may be any digits; a binary file is not read as text.
    binary = SimpleUploadedFile("scan.png", b"\x89PNG\r\n\x1a\n\xff" + PAN.encode(), content_type="image/png")
    response = client.post("/admin/login/", {"username": "x", "password": PAN, "report": binary}, follow=True)
    assert FORM_MESSAGE not in messages_of(response)
    assert PAN not in _logged(caplog)


def test_a_processor_webhook_carrying_a_card_number_is_refused_before_it_is_verified(client, caplog):
    caplog.set_level(logging.DEBUG)
    body = '{"id": "evt_1", "type": "charge.succeeded", "data": {"card": {"number": "4242 4242 4242 4242"}}}'
    response = client.post("/webhooks/processor/sandbox/", body, content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "pan_not_allowed"
    assert "4242 4242" not in _logged(caplog)


# --- The logging filter -----------------------------------------------------------------------------


def _record(msg, *args, exc_info=None):
    return logging.LogRecord("test", logging.WARNING, __file__, 1, msg, args, exc_info)


def test_the_filter_masks_messages_arguments_and_exceptions():
    record = _record("charged %s for %d", "card 4242 4242 4242 4242", 4242424242424242)
    assert CardNumberFilter().filter(record) is True
    assert record.getMessage() == "charged card **** **** **** 4242 for ************4242"
    try:
        raise ValueError(f"bad number {PAN}")
    except ValueError:
        import sys

        record = _record("failed", exc_info=sys.exc_info())
    mask_record(record)
    assert PAN not in record.exc_text and "************4242" in record.exc_text
    record = _record("no card in %s", "order 4242424242424241 on 2026-11-24")
    mask_record(record)
    assert record.getMessage() == "no card in order 4242424242424241 on 2026-11-24"


def test_every_handler_in_the_settings_masks_card_numbers():
    config = settings.LOGGING
    filters = config.get("filters", {}).items()
    names = {name for name, spec in filters if spec.get("()") == "core.logging.CardNumberFilter"}
    assert names, "LOGGING declares no CardNumberFilter"
    for name, handler in config["handlers"].items():
        assert names & set(handler.get("filters", [])), f"handler {name} has no card-number filter"
    filters = [f for h in logging.getLogger().handlers for f in h.filters if isinstance(f, CardNumberFilter)]
    assert filters, "the configured root handler has no card-number filter"
    record = _record("Not Found: /api/v1/payments/%s", PAN)
    filters[0].filter(record)
    assert record.getMessage() == "Not Found: /api/v1/payments/************4242"


def test_gunicorns_access_log_masks_the_path():
    from gunicorn.config import Config

    from core.logging import MaskingGunicornLogger

    cfg = Config()
    cfg.set("accesslog", "-")
    logger = MaskingGunicornLogger(cfg)
    stream = io.StringIO()
    logger.access_log.addHandler(logging.StreamHandler(stream))
    logger.access_log.info('%s "%s %s" %s', "127.0.0.1", "GET", f"/api/v1/payments/{PAN}", 400)
    assert PAN not in stream.getvalue() and "/api/v1/payments/************4242" in stream.getvalue()


GRANIAN_ACCESS_LINE = """
import json, sys, time
from granian.log import LogLevels, configure_logging, log_request_builder
configure_logging(LogLevels.info, json.load(open("config/granian_logging.json")))
request = {"addr_remote": "127.0.0.1", "path": sys.argv[1], "qs": "", "method": "GET", "scheme": "http",
           "protocol": "HTTP/1.1"}
log_request_builder('%(addr)s "%(method)s %(path)s" %(status)d')(time.time(), time.perf_counter(), request, 400)
"""


def test_granians_access_log_masks_the_path():
    """granian's access log (``--log-config config/granian_logging.json``, what `make bench --server granian`
    runs) goes through CardNumberFilter too; in its own process, as granian configures logging globally."""
    pytest.importorskip("granian")
    written = subprocess.run(
        [sys.executable, "-c", GRANIAN_ACCESS_LINE, f"/api/v1/payments/{PAN}"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert PAN not in written and '"GET /api/v1/payments/************4242" 400' in written


def test_json_and_csv_are_read_element_by_element():
    from edge.middleware import text_holds_card_number

    assert text_holds_card_number('{"a": {"b": ["4242 4242 4242 4242"]}}')
    assert text_holds_card_number('{"a": "x", "a": "4242424242424242"}')  # a duplicate key is read too
    assert text_holds_card_number("id,note\n1,card 4242 4242 4242 4242\n", csv_cells=True)
    assert not text_holds_card_number("[573028, 5514, 553151, 130322]")  # four numbers, not one card
    assert not text_holds_card_number("573028,5514,553151,130322\n", csv_cells=True)
    assert text_holds_card_number('{"a": "4242 4242 4242 4242"')  # not JSON: read whole
