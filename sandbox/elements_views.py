"""Hosted card fields ("elements"), as a real processor serves them to a merchant's or platform's payment page.

``GET /elements/card?origin=<the embedding page's origin>`` is a small card-entry page made to be framed by that
origin only (``frame-ancestors``). Its script (``/elements/card.js``) sends the card to ``POST /elements/tokens``
on this same origin and hands the embedding page only the token, by ``postMessage`` to ``origin`` exactly: the
card number goes from the customer's browser to the processor and nowhere else. ``POST /elements/tokens`` needs no
API key (a browser holds none); it makes a token as ``POST /v1/tokens`` does, and answers the token's id, brand
and last four digits. Nothing here logs or stores a number.
"""

import json
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

from sandbox import services
from sandbox.errors import SandboxError
from sandbox.validation import card_params, json_body

ELEMENT_ASSETS = {
    "card.js": "application/javascript; charset=utf-8",
    "card.css": "text/css; charset=utf-8",
}


def _origin(value: str | None) -> str | None:
    """``scheme://host[:port]`` of an http(s) origin, exactly as given, or None for anything else."""
    if not value or len(value) > 300 or any(char in value for char in "\r\n\t <>\"'`;,"):
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query or parts.fragment:
        return None
    if parts.username is not None or parts.password is not None:
        return None
    return value


def _headers(response: HttpResponse, *, frame_ancestors: str = "'none'") -> HttpResponse:
    response["Cache-Control"] = "no-store"
    response["Content-Security-Policy"] = "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "form-action 'none'",
            f"frame-ancestors {frame_ancestors}",
            "base-uri 'none'",
        )
    )
    response["Referrer-Policy"] = "no-referrer"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def card_page(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return _headers(HttpResponse("Not allowed.", status=405, content_type="text/plain"))
    origin = _origin(request.GET.get("origin"))
    if origin is None:
        return _headers(
            HttpResponse("origin must be the embedding page's http(s) origin.", status=400, content_type="text/plain")
        )
    html = render_to_string("sandbox/elements/card.html", {"origin": origin})
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    # Framed only by the page that asked for it.
    return _headers(response, frame_ancestors=origin)


def asset(request: HttpRequest, name: str) -> HttpResponse:
    content_type = ELEMENT_ASSETS.get(name)
    if content_type is None or request.method not in ("GET", "HEAD"):
        return _headers(HttpResponse("Not found.", status=404, content_type="text/plain"))
    response = HttpResponse(render_to_string(f"sandbox/elements/{name}"), content_type=content_type)
    response["Cache-Control"] = "no-cache"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def tokens(request: HttpRequest) -> HttpResponse:
    """A card token from a browser: ``{"number", "exp_month", "exp_year", "cvc"}`` → 201 ``{"id", "card"}``."""
    if request.method != "POST":
        return _headers(HttpResponse("Not allowed.", status=405, content_type="text/plain"))
    try:
        card = card_params(json_body(request))
    except SandboxError as error:
        return _headers(JsonResponse(error.body(), status=error.status))
    token = services.token_create(card=card)
    body = {"id": token.id, "object": "token", "card": {"brand": card.brand, "last4": card.last4}}
    return _headers(HttpResponse(json.dumps(body), status=201, content_type="application/json"))
