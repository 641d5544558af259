"""Guards that run on every request before any view, store or log sees it.

The card-number guard (PCI DSS v4 3.3.1, 3.4.1: the platform never holds a card number) applies one
rule, ``core.cards``, to every string the platform accepts:

- every request: the URL path (``400 pan_not_allowed``; Django's request log is told the response is
  already logged, so the path is never written; the server's access log masks it: config/granian_logging.json);
- the merchant API (/api/v1/): the body decoded with its declared charset, then as parsed JSON at any
  depth (keys, strings and numbers, ``\\u`` escapes decoded by the parse) or, when it is not JSON, as
  text; the query string and the stored ``Idempotency-Key`` header;
- the processor's webhooks: the body (see ``_webhook_refusal``);
- every other POST (the back office's forms: dispute evidence, refund and reconciliation notes,
  anything, and uploaded text files): refused with an error message, nothing written.
"""

import codecs
import csv
import io
import json
import logging
from urllib.parse import parse_qsl, unquote_plus

from django.contrib import messages
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponseBadRequest, HttpResponseRedirect

from core.cards import contains_card_number, contains_card_number_in, mask_card_numbers
from core.errors import InvalidRequestError
from edge.errors import PayloadTooLargeError, ServerError
from edge.responses import error_response

logger = logging.getLogger("edge.api")
guard_logger = logging.getLogger("core.cards")

API_PREFIX = "/api/v1/"
PROCESSOR_WEBHOOK_PREFIX = "/webhooks/processor/"
PAN_MESSAGE = (
    "Card numbers may not be sent to this API. Tokenise the card with the processor and send the token instead."
)
FORM_MESSAGE = (
    "Nothing was saved: the form held a card number. Card numbers may never be entered into the back office; "
    "refer to a card by its brand and last four digits."
)
# Form fields that are never stored in clear (a password is hashed) and may be any digits.
_UNSCANNED_FIELDS = ("password", "csrfmiddlewaretoken")
_UTF8 = codecs.lookup("utf-8").name
_MAX_SCANNED_FILE_BYTES = 10 * 1024 * 1024


def pan_refusal() -> InvalidRequestError:
    return InvalidRequestError(PAN_MESSAGE, code="pan_not_allowed")


def _already_logged(response):
    """Django's request log (``django.request``) writes every 4xx with its path and the request attached."""
    response._has_been_logged = True
    return response


def decode_body(body: bytes, charset: str | None) -> tuple[str, bool]:
    """The body as text, decoded with its declared charset (UTF-8 if none), and whether that was UTF-8 and valid.

    An unknown charset or bytes that do not decode are read as Latin-1 (every byte is a character),
    so that a card number in them is still found; the parser refuses such a body anyway.
    """
    if not charset and body.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        charset = "utf-32"
    elif not charset and body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        charset = "utf-16"
    name = (charset or "utf-8").strip().strip("\"'")
    try:
        codec = codecs.lookup(name).name
        text = body.decode(codec)
    except (LookupError, UnicodeDecodeError):
        return body.decode("latin-1"), False
    return text, codec == _UTF8 or (codec == "ascii" and body.isascii())


def _wsgi_text(value: str) -> str:
    """A header or query string as sent: WSGI hands over its bytes decoded as Latin-1; they are usually UTF-8."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def text_holds_card_number(text: str, *, csv_cells: bool = False) -> bool:
    """A JSON document's every key, string and number (``\\u`` escapes decoded by the parse, duplicate keys
    kept); a CSV file's every cell; any other text as a whole.

    Element by element, so that numbers next to each other in a JSON array or a CSV row are not read as
    one card number; text that does not parse is read whole (the parser refuses it later anyway).
    """
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped[:1] in ("{", "["):
        try:
            parsed = json.loads(stripped, parse_int=str, parse_float=str, parse_constant=str, object_pairs_hook=list)
        except (ValueError, RecursionError):
            return contains_card_number(text)
        return contains_card_number_in(parsed)
    if csv_cells:
        try:
            return contains_card_number_in(list(csv.reader(io.StringIO(text))))
        except csv.Error:
            return contains_card_number(text)
    return contains_card_number(text)


# Request headers that something stores (django-axes keeps them with every staff sign-in attempt).
_STORED_HEADERS = ("User-Agent", "Accept")


class ApiRequestGuardMiddleware:
    """Refuses oversized bodies (413) and anything carrying a card number (400 ``pan_not_allowed``).

    The card check runs before authentication, idempotency storage and logging, so
    a refused request is never written anywhere. The message never echoes the input.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if contains_card_number(request.path) or contains_card_number(request.path_info):
            guard_logger.warning(
                "Refused %s %s: a card number in the URL path", request.method, mask_card_numbers(request.path)
            )
            if request.path.startswith("/api/"):
                return _already_logged(error_response(pan_refusal()))
            return _already_logged(HttpResponseBadRequest("Card numbers may not be sent to this platform."))
        if self._query_or_stored_headers_hold_card_number(request):
            guard_logger.warning("Refused %s %s: its query or headers held a card number", request.method, request.path)
            if request.path.startswith("/api/"):
                return _already_logged(error_response(pan_refusal()))
            return _already_logged(HttpResponseBadRequest("Card numbers may not be sent to this platform."))
        if request.path.startswith(API_PREFIX):
            refusal = self._refusal(request)
            if refusal is not None:
                if refusal.code != "pan_not_allowed":
                    return error_response(refusal)
                # Django's request log would attach the request (its query string) to its record.
                guard_logger.warning("Refused %s %s: it held a card number", request.method, request.path)
                return _already_logged(error_response(refusal))
        elif request.path.startswith(PROCESSOR_WEBHOOK_PREFIX) and request.method == "POST":
            refusal = self._webhook_refusal(request)
            if refusal is not None:
                return refusal
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        """Every other form post (the back office): refused with a message, before the view writes anything.

        ``process_view`` runs after the session, authentication and messages middleware have run, so the
        message reaches the page the staff member is sent back to.
        """
        if request.method not in ("POST", "PUT", "PATCH"):
            return None
        if request.path.startswith("/api/") or request.path.startswith(PROCESSOR_WEBHOOK_PREFIX):
            return None
        if not self._form_holds_card_number(request):
            return None
        guard_logger.warning("Refused a form posted to %s: it held a card number", request.path)
        if hasattr(request, "_messages"):
            messages.error(request, FORM_MESSAGE)
        return HttpResponseRedirect(request.get_full_path())

    def process_exception(self, request, exception):
        """An unexpected exception in any view under /api/ is a 500 ``api_error`` (also with DEBUG on)."""
        if not request.path.startswith("/api/"):
            return None
        logger.error("Unhandled error on %s %s", request.method, request.path, exc_info=exception)
        return error_response(ServerError())

    def _refusal(self, request):
        try:
            body = request.body
        except RequestDataTooBig:
            return PayloadTooLargeError("The request body is larger than 1 MB.")
        # The idempotency key is stored too, so it is checked like any field.
        if contains_card_number(_wsgi_text(request.headers.get("Idempotency-Key", ""))):
            return pan_refusal()
        if not body:
            return None
        # Decoded as its sender declared, so that a card number in UTF-16 or Latin-1 is found too. A body
        # that is not UTF-8 is then refused by the parser (edge.parsers: 415 or 400), never read otherwise.
        text, _ = decode_body(body, request.content_params.get("charset"))
        if text_holds_card_number(text):
            return pan_refusal()
        return None

    @staticmethod
    def _query_or_stored_headers_hold_card_number(request) -> bool:
        """The query string of any URL, and the headers something keeps: the staff sign-in throttle
        (django-axes) stores the User-Agent and Accept of every sign-in attempt, and the query string."""
        query = _wsgi_text(request.META.get("QUERY_STRING", ""))
        if contains_card_number(unquote_plus(query)):
            return True
        if contains_card_number_in(parse_qsl(query, keep_blank_values=True)):
            return True
        return any(contains_card_number(_wsgi_text(request.headers.get(name, ""))) for name in _STORED_HEADERS)

    def _webhook_refusal(self, request):
        """A processor webhook is signed machine input, and it is scanned all the same.

        The processor never sends card numbers (its events carry ids, amounts and the last four); one
        that did would be a processor bug, and storing it (events are stored under their id) would
        put the platform in PCI scope. So it is refused (400 ``pan_not_allowed``) before the
        signature is checked or anything is stored, and the refusal is logged (without the body) for
        operations to take up with the processor. A refused event is not lost: the processor
        delivers it again, and the resolver asks the processor for every payment left ``processing``.
        """
        try:
            body = request.body
        except RequestDataTooBig:
            return None  # the view answers; nothing was read
        text, _ = decode_body(body, request.content_params.get("charset"))
        if not text_holds_card_number(text):
            return None
        guard_logger.error("Refused a processor webhook to %s: its body held a card number", request.path)
        return _already_logged(error_response(pan_refusal()))

    def _form_holds_card_number(self, request) -> bool:
        try:
            fields = [
                (key, value)
                for key, values in request.POST.lists()
                if not any(name in key.lower() for name in _UNSCANNED_FIELDS)
                for value in values
            ]
        except RequestDataTooBig:
            return False  # Django refuses the request itself
        if contains_card_number_in(fields):
            return True
        for key in request.FILES:
            for upload in request.FILES.getlist(key):
                if contains_card_number(upload.name or "") or self._file_holds_card_number(upload):
                    return True
        return False

    @staticmethod
    def _file_holds_card_number(upload) -> bool:
        """An uploaded file's text: any text file, or any file whose bytes read as UTF-8 (CSV, JSON, XML …).

        Binary files (PDF, images) are not read: their bytes are not text and hold long runs of digits by
        chance; staff are told not to upload card images (docs/security.md).
        """
        data = b""
        for chunk in upload.chunks():
            data += chunk
            if len(data) > _MAX_SCANNED_FILE_BYTES:
                break
        upload.seek(0)
        content_type = (getattr(upload, "content_type", "") or "").lower()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            if not content_type.startswith("text/") and "csv" not in content_type:
                return False
            text, _ = decode_body(data, getattr(upload, "charset", None))
        is_csv = "csv" in content_type or (upload.name or "").lower().endswith(".csv")
        return text_holds_card_number(text, csv_cells=is_csv)
