"""The hosted payment page: what a checkout session's ``url`` serves to the customer's browser.

``GET /checkout/{id}/{token}`` shows the merchant, the amount and the methods the session allows; ``POST
…/pay`` pays with one of them through ``services.checkout_session_pay``; ``GET …/return`` is where the wallet
sends the customer back. The token is ``services.checkout_url_token(id)``: a wrong one is a 404, exactly as an
unknown id, so ids seen in webhooks and logs open nothing.

The card is never typed into this page: it is typed into the processor's own card field (the sandbox's
``/elements/card``, in an iframe), which hands this page a token by ``postMessage``; the page posts the token.
Bank transfers and the wallet work without JavaScript, and so do a decline and its retry.

Every answer carries a strict Content-Security-Policy (scripts and styles from this origin only, frames and form
targets of the processors only), ``Referrer-Policy: no-referrer`` (the URL holds the token) and ``no-store``.
No session or cookie is used: the URL is the customer's capability, so the POSTs are exempt from CSRF (a forged
POST would need the URL, and then could do no more than its holder).
"""

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from checkout import selectors, services
from checkout.models import CheckoutSession, CheckoutSessionStatus
from core.errors import DomainError
from core.money import format_amount
from payments.methods.bank_transfer import BankAccountInput
from payments.models import PaymentStatus
from payments.routing import route_choose

S = CheckoutSessionStatus
METHOD_LABELS = {"card": "Card", "bank_transfer": "Bank transfer", "wallet": "SandboxPay"}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = [(name, value) for name, value in parse_qsl(parts.query, keep_blank_values=True) if name not in params]
    query += list(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def _processor_origins() -> list[str]:
    return sorted({_origin(config.get("public_url") or config["base_url"]) for config in settings.PROCESSORS.values()})


def _policy(session: CheckoutSession | None) -> str:
    processors = " ".join(_processor_origins())
    # A form's POST that redirects (to the wallet, or to the merchant once paid) is held to form-action too.
    merchant = " ".join(sorted({_origin(session.success_url), _origin(session.cancel_url)})) if session else ""
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self'",
            f"frame-src {processors}",
            f"form-action 'self' {processors} {merchant}".rstrip(),
            "connect-src 'none'",
            "object-src 'none'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        )
    )


def _secure(response: HttpResponse, session: CheckoutSession | None) -> HttpResponse:
    response["Content-Security-Policy"] = _policy(session)
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "no-store"
    response["X-Frame-Options"] = "DENY"
    response["X-Content-Type-Options"] = "nosniff"
    # django.request would log a 4xx with the path, which holds the URL's secret: this page's refusals are the
    # customer's (a decline, a second tab), not the server's, and are not logged.
    response._has_been_logged = True
    return response


def _see_other(location: str, session: CheckoutSession | None) -> HttpResponse:
    response = HttpResponse(status=303)
    response["Location"] = location
    return _secure(response, session)


def _not_found() -> HttpResponse:
    html = render_to_string("checkout/not_found.html")
    return _secure(HttpResponse(html, status=404, content_type="text/html; charset=utf-8"), None)


def _session(session_id: str, token: str) -> CheckoutSession | None:
    if not services.checkout_url_token_matches(session_id, token):
        return None
    return selectors.checkout_session_for_page(session_id=session_id)


def _page_url(request: HttpRequest, session: CheckoutSession) -> str:
    return request.build_absolute_uri(f"/checkout/{session.id}/{services.checkout_url_token(session.id)}")


def _card_field_url(request: HttpRequest, session: CheckoutSession) -> tuple[str, str]:
    """The processor's card field for this session (the processor a card payment would be routed to), and its
    origin."""
    route = route_choose(merchant=session.merchant, currency=session.currency, payment_method_type="card")
    config = settings.PROCESSORS[route.processor]
    base = (config.get("public_url") or config["base_url"]).rstrip("/")
    page_origin = f"{request.scheme}://{request.get_host()}"
    return f"{base}/elements/card?{urlencode({'origin': page_origin})}", _origin(base)


def _render(
    request: HttpRequest,
    session: CheckoutSession,
    *,
    status: int = 200,
    error: str | None = None,
    notice: str | None = None,
) -> HttpResponse:
    attempt = session.attempt_payment if session.status == S.OPEN else None
    state = str(session.status)
    if state == S.OPEN and not session.attempt_in_flight and session.expires_at <= timezone.now():
        # Past its time, not yet expired by beat: it takes no payment (``checkout_session_pay`` refuses it too).
        state = S.EXPIRED
    if state == S.OPEN and session.attempt_in_flight:
        if (
            attempt is not None
            and attempt.status == PaymentStatus.PROCESSING
            and attempt.payment_method_type == ("bank_transfer")
        ):
            state = "bank_processing"
        elif attempt is not None and attempt.status == PaymentStatus.REQUIRES_ACTION:
            state = "awaiting_wallet"
        else:
            state = "busy"
    context = {
        "session": session,
        "state": state,
        "merchant_name": session.merchant.name,
        "amount": format_amount(session.amount, session.currency),
        "currency": session.currency,
        "methods": [(method, METHOD_LABELS[method]) for method in session.payment_method_types],
        "page_url": _page_url(request, session),
        "success_link": _with_query(session.success_url, session_id=session.id),
        "cancel_url": session.cancel_url,
        "wallet_url": attempt.next_action_url if attempt is not None and state == "awaiting_wallet" else None,
        "error": error,
        "notice": notice,
    }
    if state == S.OPEN and "card" in session.payment_method_types:
        context["card_field_url"], context["card_field_origin"] = _card_field_url(request, session)
    html = render_to_string("checkout/page.html", context, request=request)
    return _secure(HttpResponse(html, status=status, content_type="text/html; charset=utf-8"), session)


def page(request: HttpRequest, session_id: str, token: str) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return _secure(HttpResponse(status=405, headers={"Allow": "GET, HEAD"}), None)
    session = _session(session_id, token)
    if session is None:
        return _not_found()
    if session.status == S.OPEN and session.attempt_in_flight:
        # A payment under way may have ended since (a wallet approved, a bank transfer settled): look first.
        services.checkout_session_sync(session_id=session.id)
        session = selectors.checkout_session_for_page(session_id=session.id)
    return _render(request, session)


def _method_input(request: HttpRequest, method: str):
    """The posted method's input, or raises ValueError with a message for the customer."""
    if method == "card":
        token = request.POST.get("token", "")
        if not token.startswith("tok_") or len(token) > 255:
            raise ValueError("Enter your card details in the card field, then press Pay by card.")
        return token
    if method == "wallet":
        return {"provider": "sandboxpay"}
    if method == "bank_transfer":
        fields = ("country", "holder_name", "routing_number", "account_number", "iban")
        data = {name: request.POST.get(name, "").strip() for name in fields if request.POST.get(name, "").strip()}
        form = BankAccountInput(data=data)
        if not form.is_valid():
            name, problems = next(iter(form.errors.items()))
            label = name.replace("_", " ")
            raise ValueError(f"Bank account: {label}: {problems[0]}")
        return form.validated_data
    raise ValueError("Choose a way to pay.")


@csrf_exempt
def pay(request: HttpRequest, session_id: str, token: str) -> HttpResponse:
    if request.method != "POST":
        return _secure(HttpResponse(status=405, headers={"Allow": "POST"}), None)
    session = _session(session_id, token)
    if session is None:
        return _not_found()
    method = request.POST.get("method", "")
    if method not in session.payment_method_types:
        return _render(request, session, status=400, error="This way of paying is not offered here.")
    try:
        method_input = _method_input(request, method)
    except ValueError as problem:
        return _render(request, session, status=400, error=str(problem))
    try:
        outcome = services.checkout_session_pay(session_id=session.id, method_type=method, method_input=method_input)
    except DomainError as error:
        fresh = selectors.checkout_session_for_page(session_id=session.id)
        status = 503 if error.code in ("processor_unavailable", "service_unavailable") else 400
        return _render(request, fresh, status=status, error=f"{error.message} Nothing was charged.")
    return _after(request, outcome)


def _after(request: HttpRequest, outcome: services.PayOutcome) -> HttpResponse:
    session = selectors.checkout_session_for_page(session_id=outcome.session.id)
    page_url = _page_url(request, session)
    if outcome.state == "complete":
        return _see_other(_with_query(session.success_url, session_id=session.id), session)
    if outcome.state == "redirect":
        return _see_other(_with_query(outcome.redirect_url, return_url=f"{page_url}/return"), session)
    if outcome.state == "failed":
        payment = outcome.payment
        message = (payment.failure_message if payment else None) or "The payment failed."
        return _render(request, session, status=402, error=f"{message} Nothing was charged: try again.")
    if outcome.state == "busy":
        return _render(
            request,
            session,
            status=409,
            notice="This checkout is already being paid, in another tab or window. Nothing more was charged.",
        )
    return _see_other(page_url, session)


def wallet_return(request: HttpRequest, session_id: str, token: str) -> HttpResponse:
    """Back from the wallet: the processor is asked what the customer decided (the query string is not trusted)."""
    if request.method not in ("GET", "HEAD"):
        return _secure(HttpResponse(status=405, headers={"Allow": "GET, HEAD"}), None)
    session = _session(session_id, token)
    if session is None:
        return _not_found()
    outcome = services.checkout_session_sync(session_id=session.id)
    if outcome is None:
        session = selectors.checkout_session_for_page(session_id=session.id)
        if session.status == S.COMPLETE:
            return _see_other(_with_query(session.success_url, session_id=session.id), session)
        return _see_other(_page_url(request, session), session)
    if outcome.state == "failed":
        payment = outcome.payment
        message = (payment.failure_message if payment else None) or "The payment was not approved."
        fresh = selectors.checkout_session_for_page(session_id=session.id)
        return _render(request, fresh, error=f"{message} Nothing was charged: try again.")
    return _after(request, outcome)
