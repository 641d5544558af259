"""The customer's side of a wallet charge: the SandboxPay approval page. HTML for a browser, no API key.

``GET /wallet/{charge_id}`` shows the payment and, while it awaits approval, a form with Approve and Decline
buttons carrying the charge's secret token; ``POST /wallet/{charge_id}/approve`` (or ``/decline``) decides it
through one service call, then sends the browser back (303) to the page, which now shows the outcome, or to the
``return_url`` the page was opened with. Deciding twice, or too late, changes nothing and shows the outcome.
"""

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils import timezone

from sandbox import selectors, services, wallets
from sandbox.models import Charge
from sandbox.money import format_amount

# A page that moves money: never cached, never framed (clickjacking), no scripts, nothing leaked in referrers.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "; ".join(
        ("default-src 'none'", "style-src 'unsafe-inline'", "frame-ancestors 'none'", "base-uri 'none'")
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
OUTCOMES = {
    Charge.Status.CAPTURED: ("Payment approved", "You approved this payment."),
    Charge.Status.AUTHORIZED: ("Payment approved", "You approved this payment."),
    Charge.Status.DECLINED: ("Payment declined", "You declined this payment. Nothing was charged."),
    Charge.Status.EXPIRED: ("Payment request expired", "It was not approved in time. Nothing was charged."),
    Charge.Status.VOIDED: ("Payment canceled", "The merchant canceled this payment request. Nothing was charged."),
}


def _html(context: dict, *, status: int = 200) -> HttpResponse:
    response = HttpResponse(
        render_to_string("sandbox/wallet.html", context), status=status, content_type="text/html; charset=utf-8"
    )
    for name, value in SECURITY_HEADERS.items():
        response[name] = value
    return response


def _problem(status: int, title: str, message: str) -> HttpResponse:
    return _html({"title": title, "message": message, "problem": True}, status=status)


def _see_other(location: str) -> HttpResponse:
    response = HttpResponse(status=303)
    response["Location"] = location
    for name, value in SECURITY_HEADERS.items():
        response[name] = value
    return response


def _method_not_allowed(allowed: str) -> HttpResponse:
    response = _problem(405, "Not allowed", "This page cannot be used this way.")
    response["Allow"] = allowed
    return response


def _return_url(value: str | None) -> str | None:
    """The merchant's return_url, or None; raises ValueError when one was given that is not an http(s) URL."""
    if not value:
        return None
    if not wallets.return_url_valid(value):
        raise ValueError(value)
    return value


def approval_page(request: HttpRequest, charge_id: str) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return _method_not_allowed("GET, HEAD")
    charge = selectors.wallet_charge_get(charge_id=charge_id)
    if charge is None:
        return _problem(404, "Payment not found", "There is no such payment request.")
    try:
        return_url = _return_url(request.GET.get("return_url"))
    except ValueError:
        return _problem(400, "Invalid link", "The link's return_url is not a web address.")
    if charge.status == Charge.Status.REQUIRES_ACTION and charge.expires_at <= timezone.now():
        # Past its expiry but not yet expired by the dispatcher: expire it now, so the page never offers it.
        charge = services.wallet_charge_expire(charge_id=charge_id) or selectors.charge_get(charge_id=charge_id)
    title, message = OUTCOMES.get(charge.status, ("Approve this payment", ""))
    return _html(
        {
            "title": title,
            "message": message,
            "charge_id": charge.id,
            "status": charge.status,
            "awaiting_approval": charge.status == Charge.Status.REQUIRES_ACTION,
            "reference": charge.reference or "",
            "amount": format_amount(charge.amount, charge.currency),
            "expires_at": charge.expires_at,
            "token": charge.action_token,
            "return_url": return_url,
            "return_link": return_url
            and wallets.return_redirect(return_url, charge_id=charge.id, status=charge.status),
        }
    )


def _decide(request: HttpRequest, charge_id: str, *, approve: bool) -> HttpResponse:
    if request.method != "POST":
        return _method_not_allowed("POST")
    charge = selectors.wallet_charge_get(charge_id=charge_id)
    if charge is None:
        return _problem(404, "Payment not found", "There is no such payment request.")
    if not wallets.action_token_matches(charge.action_token, request.POST.get("token")):
        return _problem(403, "Invalid request", "Open the payment page again and use its buttons.")
    try:
        return_url = _return_url(request.POST.get("return_url"))
    except ValueError:
        return _problem(400, "Invalid request", "The return_url is not a web address.")
    charge, _changed = services.wallet_charge_decide(charge_id=charge_id, approve=approve)
    if return_url:
        return _see_other(wallets.return_redirect(return_url, charge_id=charge.id, status=charge.status))
    # Relative to /wallet/{id}/approve, so it also works behind a proxy that serves the sandbox under a prefix.
    return _see_other(f"../{charge.id}")


def approve(request: HttpRequest, charge_id: str) -> HttpResponse:
    return _decide(request, charge_id, approve=True)


def decline(request: HttpRequest, charge_id: str) -> HttpResponse:
    return _decide(request, charge_id, approve=False)
