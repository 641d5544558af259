"""The sandbox's HTTP API: parse, call one service, render. JSON in and out."""

import hmac
from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from sandbox import fx, idempotency, selectors, services, wallets
from sandbox.config import sandbox_config
from sandbox.errors import (
    AuthenticationFailed,
    CardDeclinedError,
    InvalidRequest,
    MethodNotAllowed,
    ResourceMissing,
    SandboxError,
)
from sandbox.idempotency import Answer, Result
from sandbox.models import Charge
from sandbox.representations import (
    bank_account_json,
    charge_json,
    dispute_json,
    event_json,
    faults_json,
    fx_rates_json,
    payout_json,
    refund_json,
    settlement_csv,
    settlement_line_json,
    token_json,
    unix,
)
from sandbox.validation import (
    bank_account_params,
    capture_params,
    card_params,
    charge_params,
    day_param,
    dispute_open_params,
    evidence_params,
    fault_params,
    json_body,
    payout_params,
    refund_params,
    settlement_inject_params,
    void_params,
)

JSON = "application/json"
COMPACT = {"separators": (",", ":")}


def json_response(body: dict, status: int = 200) -> JsonResponse:
    return JsonResponse(body, status=status, json_dumps_params=COMPACT)


def error_response(error: SandboxError) -> JsonResponse:
    response = json_response(error.body(), status=error.status)
    if error.status >= 500:
        # A deliberate 500 (a fault being simulated) is not a bug: keep it out of the error log.
        response._has_been_logged = True
    return response


def answer_response(answer: Answer) -> HttpResponse:
    """The answer's exact bytes, so that a replay is byte for byte the first answer."""
    response = HttpResponse(answer.body, status=answer.status, content_type=JSON)
    if answer.replayed:
        response["Idempotent-Replayed"] = "true"
    if answer.status >= 500:
        response._has_been_logged = True
    return response


def _authenticate(request: HttpRequest) -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    expected = sandbox_config().api_key
    if scheme.lower() != "bearer" or not hmac.compare_digest(key.strip().encode(), expected.encode()):
        raise AuthenticationFailed("Invalid API key. Use Authorization: Bearer <SANDBOX_API_KEY>.")


def endpoint(*, auth: bool = True, **handlers: Callable) -> Callable:
    """A view that dispatches on the HTTP method to ``handlers`` (``get=``, ``post=``) and renders every error."""

    def view(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        handler = handlers.get(request.method.lower())
        try:
            if handler is None:
                raise MethodNotAllowed(f"{request.method} is not allowed here.")
            if auth:
                _authenticate(request)
            return handler(request, *args, **kwargs)
        except SandboxError as error:
            return error_response(error)

    return view


def _with_key(handler: Callable) -> Callable:
    """Run a POST handler's operation exactly once per Idempotency-Key, with the run's faults."""

    @wraps(handler)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        key = idempotency.idempotency_key_from(request.headers.get("Idempotency-Key"))
        data = json_body(request)
        operation, faults = handler(request, data, *args, **kwargs)
        answer = idempotency.execute(
            scope=sandbox_config().key_scope,
            key=key,
            request_fingerprint=idempotency.fingerprint(request.method, request.path, data),
            operation=operation,
            faults=faults,
        )
        return answer_response(answer)

    return wrapper


# --- Health --------------------------------------------------------------------


def _healthz(request: HttpRequest) -> JsonResponse:
    return json_response({"status": "ok", "name": sandbox_config().name})


healthz = endpoint(auth=False, get=_healthz)


# --- Tokens --------------------------------------------------------------------


def _optionally_idempotent(request: HttpRequest, data: dict, operation: Callable[[], Result]) -> HttpResponse:
    """Run ``operation`` once per Idempotency-Key when the request carries one, else simply run it."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        result = operation()
        return json_response(result.body, status=result.status)
    answer = idempotency.execute(
        scope=sandbox_config().key_scope,
        key=idempotency.idempotency_key_from(key),
        request_fingerprint=idempotency.fingerprint(request.method, request.path, data),
        operation=operation,
        faults=None,
    )
    return answer_response(answer)


def _token_create(request: HttpRequest) -> HttpResponse:
    data = json_body(request)
    card = card_params(data)

    def operation() -> Result:
        token = services.token_create(card=card)
        return Result(201, token_json(token.id, token))

    return _optionally_idempotent(request, data, operation)


def _token_detail(request: HttpRequest, token_id: str) -> JsonResponse:
    card = selectors.token_card(token_id)
    if card is None:
        raise ResourceMissing(f"No such token: {token_id!r}.", param="id")
    return json_response(token_json(token_id, card))


tokens = endpoint(post=_token_create)
token_detail = endpoint(get=_token_detail)


# --- Bank accounts -------------------------------------------------------------


def _bank_account_create(request: HttpRequest) -> HttpResponse:
    data = json_body(request)
    # From here on only the account's storable facts exist: the number or IBAN is not passed further.
    account = bank_account_params(data, fingerprint_key=sandbox_config().fingerprint_key)

    def operation() -> Result:
        return Result(201, bank_account_json(services.bank_account_create(account=account)))

    return _optionally_idempotent(request, data, operation)


def _bank_account_detail(request: HttpRequest, bank_account_id: str) -> JsonResponse:
    account = selectors.bank_account_get(bank_account_id=bank_account_id)
    if account is None:
        raise ResourceMissing(f"No such bank account: {bank_account_id!r}.", param="id")
    return json_response(bank_account_json(account))


bank_accounts = endpoint(post=_bank_account_create)
bank_account_detail = endpoint(get=_bank_account_detail)


# --- Charges -------------------------------------------------------------------


def _charge_result(charge: Charge, *, created: bool, delay_seconds: float = 0.0) -> Result:
    if charge.status in (Charge.Status.DECLINED, Charge.Status.FAILED):
        error = CardDeclinedError(charge.failure_message, decline_code=charge.decline_code, charge=charge_json(charge))
        return Result(error.status, error.body())
    return Result(201 if created else 200, charge_json(charge), delay_seconds)


def public_base_url(request: HttpRequest) -> str:
    """Where people reach the sandbox: SANDBOX_PUBLIC_URL, else the scheme and host this request came to."""
    return sandbox_config().public_url or request.build_absolute_uri("/").rstrip("/")


@_with_key
def _charge_create(request: HttpRequest, data: dict):
    params = charge_params(data)
    if params["token"].startswith("ba_"):
        return _bank_charge_create(request, params)
    if params["token"].startswith("wallet_"):
        return _wallet_charge_create(request, params)
    card = selectors.token_card(params["token"])
    if card is None:
        raise InvalidRequest(f"No such token: {params['token']!r}.", code="token_invalid", param="source")
    faults = selectors.faults_current()
    key = request.headers["Idempotency-Key"]

    def operation() -> Result:
        charge = services.charge_create(
            **params, card=card, idempotency_key=key, timeout_delay_seconds=faults.timeout_delay_seconds
        )
        delay = faults.timeout_delay_seconds if charge.behaviour == "timeout" else 0.0
        return _charge_result(charge, created=True, delay_seconds=delay)

    return operation, faults


def _bank_charge_create(request: HttpRequest, params: dict):
    if not params["capture"]:
        raise InvalidRequest(
            "A bank transfer cannot be authorised and captured later: send capture true.",
            code="capture_method_invalid",
            param="capture",
        )
    bank_account = selectors.bank_account_get(bank_account_id=params["token"])
    if bank_account is None:
        raise InvalidRequest(f"No such bank account: {params['token']!r}.", code="token_invalid", param="source")
    key = request.headers["Idempotency-Key"]

    def operation() -> Result:
        charge = services.bank_charge_create(
            amount=params["amount"],
            currency=params["currency"],
            bank_account=bank_account,
            reference=params["reference"],
            idempotency_key=key,
        )
        return _charge_result(charge, created=True)

    return operation, selectors.faults_current()


def _wallet_charge_create(request: HttpRequest, params: dict):
    if params["token"] not in wallets.WALLETS:
        raise InvalidRequest(f"No such wallet: {params['token']!r}.", code="token_invalid", param="source")
    faults = selectors.faults_current()
    key = request.headers["Idempotency-Key"]
    base_url = public_base_url(request)

    def operation() -> Result:
        charge = services.wallet_charge_create(
            amount=params["amount"],
            currency=params["currency"],
            wallet_source=params["token"],
            capture=params["capture"],
            reference=params["reference"],
            idempotency_key=key,
            public_base_url=base_url,
            expiry_seconds=faults.wallet_expiry_seconds,
        )
        return _charge_result(charge, created=True)

    return operation, faults


def _charges_list(request: HttpRequest) -> JsonResponse:
    charges = selectors.charges_list(
        reference=request.GET.get("reference"), idempotency_key=request.GET.get("idempotency_key")
    )
    return json_response({"object": "list", "data": [charge_json(charge) for charge in charges]})


def _charge_detail(request: HttpRequest, charge_id: str) -> JsonResponse:
    return json_response(charge_json(selectors.charge_get(charge_id=charge_id)))


@_with_key
def _charge_capture(request: HttpRequest, data: dict, charge_id: str):
    params = capture_params(data)

    def operation() -> Result:
        return _charge_result(services.charge_capture(charge_id=charge_id, **params), created=False)

    return operation, selectors.faults_current()


@_with_key
def _charge_void(request: HttpRequest, data: dict, charge_id: str):
    void_params(data)

    def operation() -> Result:
        return _charge_result(services.charge_void(charge_id=charge_id), created=False)

    return operation, selectors.faults_current()


charges = endpoint(get=_charges_list, post=_charge_create)
charge_detail = endpoint(get=_charge_detail)
charge_capture = endpoint(post=_charge_capture)
charge_void = endpoint(post=_charge_void)


# --- Refunds -------------------------------------------------------------------


@_with_key
def _refund_create(request: HttpRequest, data: dict):
    params = refund_params(data)
    key = request.headers["Idempotency-Key"]

    def operation() -> Result:
        return Result(201, refund_json(services.refund_create(**params, idempotency_key=key)))

    return operation, selectors.faults_current()


def _refunds_list(request: HttpRequest) -> JsonResponse:
    refunds = selectors.refunds_list(
        reference=request.GET.get("reference"),
        idempotency_key=request.GET.get("idempotency_key"),
        charge_id=request.GET.get("charge"),
    )
    return json_response({"object": "list", "data": [refund_json(refund) for refund in refunds]})


def _refund_detail(request: HttpRequest, refund_id: str) -> JsonResponse:
    return json_response(refund_json(selectors.refund_get(refund_id=refund_id)))


refunds = endpoint(get=_refunds_list, post=_refund_create)
refund_detail = endpoint(get=_refund_detail)


# --- Payouts -------------------------------------------------------------------


@_with_key
def _payout_create(request: HttpRequest, data: dict):
    params = payout_params(data)
    destination_id = params.pop("destination_id")
    destination = selectors.bank_account_get(bank_account_id=destination_id)
    if destination is None:
        # Checked before execution, as for a charge's unknown source: not stored, a retry may fix it.
        raise InvalidRequest(f"No such bank account: {destination_id!r}.", code="token_invalid", param="destination")
    faults = selectors.faults_current()
    key = request.headers["Idempotency-Key"]

    def operation() -> Result:
        payout = services.payout_create(
            **params, destination=destination, idempotency_key=key, payout_seconds=faults.payout_seconds
        )
        return Result(201, payout_json(payout))

    return operation, faults


def _payouts_list(request: HttpRequest) -> JsonResponse:
    payouts = selectors.payouts_list(
        reference=request.GET.get("reference"), idempotency_key=request.GET.get("idempotency_key")
    )
    return json_response({"object": "list", "data": [payout_json(payout) for payout in payouts]})


def _payout_detail(request: HttpRequest, payout_id: str) -> JsonResponse:
    return json_response(payout_json(selectors.payout_get(payout_id=payout_id)))


payouts = endpoint(get=_payouts_list, post=_payout_create)
payout_detail = endpoint(get=_payout_detail)


# --- Disputes ------------------------------------------------------------------


def _disputes_list(request: HttpRequest) -> JsonResponse:
    disputes = selectors.disputes_list(reference=request.GET.get("reference"), charge_id=request.GET.get("charge"))
    return json_response({"object": "list", "data": [dispute_json(dispute) for dispute in disputes]})


def _dispute_detail(request: HttpRequest, dispute_id: str) -> JsonResponse:
    return json_response(dispute_json(selectors.dispute_get(dispute_id=dispute_id)))


@_with_key
def _dispute_evidence(request: HttpRequest, data: dict, dispute_id: str):
    evidence = evidence_params(data, fields=services.EVIDENCE_FIELDS)

    def operation() -> Result:
        return Result(200, dispute_json(services.dispute_submit_evidence(dispute_id=dispute_id, evidence=evidence)))

    return operation, selectors.faults_current()


@_with_key
def _dispute_close(request: HttpRequest, data: dict, dispute_id: str):
    void_params(data)

    def operation() -> Result:
        return Result(200, dispute_json(services.dispute_accept(dispute_id=dispute_id)))

    return operation, selectors.faults_current()


def _dispute_open(request: HttpRequest) -> JsonResponse:
    params = dispute_open_params(json_body(request), reasons=services.DISPUTE_REASONS)
    reference = params.pop("reference")
    if reference is not None:
        params["charge_id"] = selectors.captured_charge_for(reference=reference).id
    return json_response(dispute_json(services.dispute_open(**params)), status=201)


disputes = endpoint(get=_disputes_list)
dispute_detail = endpoint(get=_dispute_detail)
dispute_evidence = endpoint(post=_dispute_evidence)
dispute_close = endpoint(post=_dispute_close)
control_disputes = endpoint(post=_dispute_open)


# --- Settlement reports --------------------------------------------------------


def _settlement_report(request: HttpRequest, day: str) -> HttpResponse:
    lines = selectors.settlement_lines(day=day_param(day))
    return HttpResponse(settlement_csv(lines), content_type="text/csv; charset=utf-8")


def _settlement_inject(request: HttpRequest) -> JsonResponse:
    line = services.settlement_line_inject(**settlement_inject_params(json_body(request)))
    return json_response(settlement_line_json(line), status=201)


settlement_report = endpoint(get=_settlement_report)
control_settlement_inject = endpoint(post=_settlement_inject)


# --- Exchange rates ------------------------------------------------------------


def _fx_rates(request: HttpRequest) -> JsonResponse:
    rates = fx.rates_with_drift(selectors.faults_current().fx_drift_bps)
    return json_response(fx_rates_json(base=fx.BASE_CURRENCY, rates=rates, as_of=unix(timezone.now())))


fx_rates = endpoint(get=_fx_rates)


# --- Events and control --------------------------------------------------------


def _events_list(request: HttpRequest) -> JsonResponse:
    events = selectors.events_list(event_type=request.GET.get("type"), status=request.GET.get("status"))
    return json_response({"object": "list", "data": [event_json(event) for event in events]})


def _event_detail(request: HttpRequest, event_id: str) -> JsonResponse:
    return json_response(event_json(selectors.event_get(event_id=event_id)))


def _faults_show(request: HttpRequest) -> JsonResponse:
    return json_response(faults_json(selectors.faults_current()))


def _faults_change(request: HttpRequest) -> JsonResponse:
    return json_response(faults_json(services.faults_update(**fault_params(json_body(request)))))


def _webhook_resend(request: HttpRequest) -> JsonResponse:
    data = json_body(request)
    event_id = data.get("event_id")
    if not isinstance(event_id, str):
        raise InvalidRequest("event_id is required.", code="parameter_missing", param="event_id")
    return json_response(event_json(services.webhook_resend(event_id=event_id)), status=202)


events = endpoint(get=_events_list)
event_detail = endpoint(get=_event_detail)
control_faults = endpoint(get=_faults_show, post=_faults_change)
control_webhook_resend = endpoint(post=_webhook_resend)


def not_found(request: HttpRequest, exception=None) -> JsonResponse:
    return error_response(ResourceMissing(f"Unrecognized request URL ({request.method}: {request.path})."))


def server_error(request: HttpRequest) -> JsonResponse:
    body = {"error": {"type": "api_error", "code": "internal_error", "message": "An unexpected error occurred."}}
    return json_response(body, status=500)
