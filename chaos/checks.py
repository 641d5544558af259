"""Settling, then the checks of issue 11.

- ``double_charges``: payments with more than one charge across BOTH acquirers (each sandbox's
  own database: ``sandbox_charge`` rows whose ``reference`` is the payment id), so a charge on
  each acquirer counts; charges whose reference is no payment of ours count too (orphans).
- ``wrong_acquirer``: a payment whose charge is held by another acquirer than its
  ``Payment.processor`` (a payment failed over must hold nothing at the one it left).
- ``untruthful_answers``: every key used is sent again, same request, same key; the answer
  must not be 5xx, must be what the client was told if that was definite, and must agree
  with the object as it is now (``judge``).
- ``processor_disagreements``: per payment, the platform's ``amount_captured`` and
  ``amount_refunded`` against its charges' (at whichever acquirer), and an authorisation held
  at the processor only for a payment waiting for capture.
- ``ledger_check``: ``manage.py ledger_check --json``, its exit code and failed checks.
- ``events_missing``: every event in the platform's outbox reached our receiver with a valid
  signature; ``events_duplicate_deliveries`` counts the extra deliveries (allowed, reported).

Payouts (issue 15, ``payout_agreement``, ``payout_events``, and the payout keys in ``judge_all``):

- ``payouts_sent_twice``: platform payouts with more than one payout at the processors (each
  sandbox's ``sandbox_payout`` rows whose ``reference`` is the payout id, across both acquirers);
  ``payouts_orphan``: processor payouts whose reference is no payout of ours;
- ``payout_disagreements``: a paid (or in-transit) payout held exactly once at its processor, a
  canceled one nowhere, a failed one at most once and failed there too, the same amount and
  currency and the processor's id on the payout; after healing, none still pending or in transit;
- ``payout_events_missing``: ``payout.created`` for every payout and ``payout.paid``, ``.failed``
  or ``.canceled`` for each that ended so, recorded and received (and none for another outcome).
"""

import json
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import psycopg
import requests

from chaos.clients import Call
from chaos.stack import ROOT

# Every status a payment can reach from each one (the API's state machine, forward only).
_NEXT = {
    "requires_confirmation": {"processing", "requires_action", "requires_capture", "succeeded", "failed", "canceled"},
    "processing": {"requires_action", "requires_capture", "succeeded", "failed", "canceled"},
    "requires_action": {"processing", "requires_capture", "succeeded", "failed", "canceled"},
    "requires_capture": {"processing", "succeeded", "canceled", "failed"},
    "succeeded": set(),
    "failed": set(),
    "canceled": set(),
}
_REFUND_NEXT = {"pending": {"succeeded", "failed"}, "succeeded": set(), "failed": set()}
_PAYOUT_NEXT = {
    "pending": {"in_transit", "paid", "failed", "canceled"},
    "in_transit": {"paid", "failed"},
    "paid": set(),
    "failed": set(),
    "canceled": set(),
}
PAYOUT_OPS = ("external_account", "payout", "payout_cancel")
# The event each final status of a payout records (every payout also records payout.created).
PAYOUT_EVENTS = {"paid": "payout.paid", "failed": "payout.failed", "canceled": "payout.canceled"}
EXAMPLES = 12


def reachable(before: str, now: str, graph: dict = _NEXT) -> bool:
    """Whether ``now`` is ``before`` or a status reachable from it."""
    return before == now or now in graph.get(before, set())


# --- the databases, read only ------------------------------------------------------------------


class Platform:
    """The run's PostgreSQL database, read with plain SQL (a few stable columns)."""

    def __init__(self, database_url: str, merchant_id: str):
        self.url = database_url
        self.merchant_id = merchant_id

    def _rows(self, sql: str, params=()) -> list[tuple]:
        with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as connection:
            return connection.execute(sql, params).fetchall()

    def pending(self) -> dict:
        row = self._rows("""
            SELECT
              (SELECT count(*) FROM payments_payment WHERE status = 'processing'),
              (SELECT count(*) FROM payments_payment WHERE processor_operation_pending_since IS NOT NULL),
              (SELECT count(*) FROM payments_refund WHERE status = 'pending'),
              (SELECT count(*) FROM events_event WHERE published_at IS NULL),
              (SELECT count(*) FROM events_webhookdelivery WHERE status = 'pending'),
              (SELECT count(*) FROM payouts_payout WHERE status = 'pending'),
              (SELECT count(*) FROM payouts_payout WHERE status = 'in_transit'),
              (SELECT count(*) FROM ledger_maturingfunds WHERE available_on <= now())
        """)[0]
        names = (
            "payments_processing",
            "operations_pending",
            "refunds_pending",
            "events_unpublished",
            "deliveries_pending",
            "payouts_pending",
            "payouts_in_transit",
            "funds_due_unmatured",
        )
        return dict(zip(names, row, strict=True))

    def maturing(self) -> dict:
        """The run's maturing: captures whose funds waited in pending, how many matured, how many wait still."""
        row = self._rows("""
            SELECT
              (SELECT count(*) FROM ledger_journalentry WHERE type = 'charge' AND available_on > created),
              (SELECT count(*) FROM ledger_journalentry WHERE type = 'funds_matured'),
              (SELECT count(*) FROM ledger_maturingfunds)
        """)[0]
        return dict(zip(("captures_pending_first", "matured", "still_pending"), row, strict=True))

    def event_ids(self) -> list[tuple[str, str]]:
        return self._rows("SELECT id, type FROM events_event WHERE merchant_id = %s", (self.merchant_id,))

    def delivery_statuses(self) -> Counter:
        return Counter(dict(self._rows("SELECT status, count(*) FROM events_webhookdelivery GROUP BY status")))

    def payments(self) -> dict[str, dict]:
        rows = self._rows(
            "SELECT id, status, amount, amount_captured, amount_refunded, capture_method, creation_idempotency_key, "
            "processor_charge_id, disputed, failure_code, processor, failed_over_from, currency "
            "FROM payments_payment WHERE merchant_id = %s",
            (self.merchant_id,),
        )
        names = (
            "id",
            "status",
            "amount",
            "amount_captured",
            "amount_refunded",
            "capture_method",
            "key",
            "processor_charge_id",
            "disputed",
            "failure_code",
            "processor",
            "failed_over_from",
            "currency",
        )
        return {row[0]: dict(zip(names, row, strict=True)) for row in rows}

    def refunds(self) -> dict[str, dict]:
        rows = self._rows(
            "SELECT id, payment_id, amount, status, creation_idempotency_key FROM payments_refund "
            "WHERE merchant_id = %s",
            (self.merchant_id,),
        )
        return {r[0]: {"id": r[0], "payment_id": r[1], "amount": r[2], "status": r[3], "key": r[4]} for r in rows}

    def payouts(self) -> dict[str, dict]:
        rows = self._rows(
            "SELECT id, status, amount, currency, processor, processor_payout_id, creation_idempotency_key, "
            "sending_since IS NOT NULL, failure_code, destination_id, processor_attempts FROM payouts_payout "
            "WHERE merchant_id = %s",
            (self.merchant_id,),
        )
        names = (
            "id",
            "status",
            "amount",
            "currency",
            "processor",
            "processor_payout_id",
            "key",
            "claimed",
            "failure_code",
            "destination",
            "attempts",
        )
        return {row[0]: dict(zip(names, row, strict=True)) for row in rows}

    def external_accounts(self) -> dict[str, dict]:
        rows = self._rows(
            "SELECT id, idempotency_key, last4, processor FROM payouts_externalaccount WHERE merchant_id = %s",
            (self.merchant_id,),
        )
        return {r[0]: {"id": r[0], "key": r[1], "last4": r[2], "processor": r[3]} for r in rows}

    def payout_events(self) -> list[tuple[str, str, str]]:
        """``(event id, type, payout id)`` of every payout event of the merchant."""
        return self._rows(
            "SELECT id, type, payload::jsonb #>> '{data,object,id}' FROM events_event "
            "WHERE merchant_id = %s AND type LIKE 'payout.%%'",
            (self.merchant_id,),
        )

    def processor_webhooks(self) -> dict[str, dict]:
        """The processor webhooks the platform stored, by processor and status."""
        rows = self._rows("SELECT processor, status, count(*) FROM gateways_processorwebhookevent GROUP BY 1, 2")
        by_processor: dict[str, dict] = defaultdict(dict)
        for processor, status, count in rows:
            by_processor[processor][status] = count
        return dict(by_processor)

    def keys_in_progress(self) -> int:
        return self._rows("SELECT count(*) FROM core_idempotencykey WHERE status = 'in_progress'")[0][0]


class Sandbox:
    """One acquirer's sandbox database (SQLite), opened read-only."""

    def __init__(self, name: str, path):
        self.name = name
        self.path = path

    def _rows(self, sql: str, params=()) -> list[tuple]:
        connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            return connection.execute(sql, params).fetchall()
        finally:
            connection.close()

    def pending(self) -> dict:
        soon = (datetime.now(UTC) + timedelta(seconds=30)).strftime("%Y-%m-%d %H:%M:%S")
        webhooks = self._rows("SELECT count(*) FROM sandbox_webhookevent WHERE status = 'pending'")[0][0]
        actions = self._rows(
            "SELECT count(*) FROM sandbox_scheduledaction WHERE status = 'pending' AND run_at <= ?", (soon,)
        )[0][0]
        return {f"{self.name}_webhooks_pending": webhooks, f"{self.name}_actions_due": actions}

    def charges(self) -> list[dict]:
        """Every charge this acquirer holds, each tagged with the acquirer's name."""
        rows = self._rows("SELECT id, reference, status, amount, amount_captured, amount_refunded FROM sandbox_charge")
        names = ("id", "reference", "status", "amount", "amount_captured", "amount_refunded")
        return [{**dict(zip(names, row, strict=True)), "acquirer": self.name} for row in rows]

    def payouts(self) -> list[dict]:
        """Every payout this acquirer holds, each tagged with the acquirer's name."""
        rows = self._rows("SELECT id, reference, status, amount, currency, idempotency_key FROM sandbox_payout")
        names = ("id", "reference", "status", "amount", "currency", "idempotency_key")
        return [{**dict(zip(names, row, strict=True)), "acquirer": self.name} for row in rows]

    def webhook_statuses(self) -> Counter:
        return Counter(dict(self._rows("SELECT status, count(*) FROM sandbox_webhookevent GROUP BY status")))


# --- settling ---------------------------------------------------------------------------------


def settle(stack, receiver, platform: Platform, sandboxes: list[Sandbox], seconds: float, log=print) -> dict:
    """Let the resolver, the outbox and both acquirers' webhooks finish, for at most ``seconds``."""
    started = time.monotonic()
    deadline = started + seconds
    resolver_runs, resolver_errors = 0, []
    state: dict = {}
    while True:
        budget = max(3.0, min(20.0, deadline - time.monotonic()))
        try:
            completed = subprocess.run(
                [sys.executable, "-m", "chaos.resolve", str(budget)],
                cwd=ROOT,
                env=stack.platform_env(),
                capture_output=True,
                text=True,
                timeout=budget + 60,
                stdin=subprocess.DEVNULL,
            )
            resolver_runs += 1
            if completed.returncode != 0:
                tail = completed.stderr.strip().splitlines()[-1:]
                resolver_errors.append(tail[0] if tail else f"exit {completed.returncode}")
            else:
                line = json.loads(completed.stdout.strip().splitlines()[-1])
                resolver_errors.extend(line.get("errors", []))
        except (subprocess.TimeoutExpired, ValueError, IndexError) as error:
            resolver_errors.append(f"{type(error).__name__}")
        state = {}
        try:
            state.update(platform.pending())
        except psycopg.Error as error:
            state["platform_error"] = str(error)[:200]
        for sandbox in sandboxes:
            try:
                state.update(sandbox.pending())
            except sqlite3.Error as error:
                state[f"{sandbox.name}_error"] = str(error)[:200]
        try:
            received, _ = receiver.snapshot()
            state["events_not_received"] = sum(1 for event_id, _ in platform.event_ids() if event_id not in received)
        except psycopg.Error as error:
            state["platform_error"] = str(error)[:200]
        settled = all(value == 0 for key, value in state.items() if not key.endswith("_error"))
        settled = settled and not any(key.endswith("_error") for key in state)
        if settled or time.monotonic() > deadline:
            break
        log(
            f"chaos: settling, {int(time.monotonic() - started)}s: "
            + ", ".join(f"{k} {v}" for k, v in state.items() if v)
        )
        time.sleep(2)
    return {
        "settled": settled,
        "seconds": round(time.monotonic() - started, 1),
        "left": {key: value for key, value in state.items() if value},
        "resolver_runs": resolver_runs,
        "resolver_errors": [str(error)[:300] for error in resolver_errors[-5:]],
    }


# --- replaying every key ------------------------------------------------------------------------


def replay_all(api, calls: list[Call], lock_timeout: float, threads: int = 8) -> dict[str, dict]:
    """Send every key's request again. 409 (still in progress) is retried until the key's lock lapses."""

    def replay(call: Call) -> dict:
        deadline = time.monotonic() + lock_timeout + 15
        first_5xx = None
        while True:
            try:
                status, body, replayed = api.post_once(call.path, call.body, call.key, timeout=30)
            except requests.RequestException as error:
                status, body, replayed = None, {"_error": type(error).__name__}, False
            if status is not None and status >= 500 and first_5xx is None:
                # One more try: a transient 5xx now is noted; a stored one comes back identical.
                first_5xx = (status, replayed)
                time.sleep(1)
                continue
            in_use = (
                status == 409
                and isinstance(body, dict)
                and body.get("error", {}).get("code") == ("idempotency_key_in_use")
            )
            if (status is None or in_use) and time.monotonic() < deadline:
                time.sleep(2)
                continue
            return {"status": status, "body": body, "replayed": replayed, "first_5xx": first_5xx}

    unique: dict[str, Call] = {}
    for call in calls:
        unique.setdefault(call.key, call)
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="chaos-replay") as pool:
        answers = list(pool.map(replay, unique.values()))
    return dict(zip(unique.keys(), answers, strict=True))


# --- judging each key's answer ---------------------------------------------------------------------


def _error_code(body) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"].get("code")
    return None


def _payment_in(body) -> dict | None:
    if not isinstance(body, dict):
        return None
    if body.get("object") == "payment":
        return body
    error = body.get("error")
    if isinstance(error, dict) and isinstance(error.get("payment"), dict):
        return error["payment"]
    return None


def judge_all(
    calls: list[Call],
    replays: dict[str, dict],
    payments: dict,
    refunds: dict,
    payouts: dict | None = None,
    external_accounts: dict | None = None,
) -> dict:
    """Each key's replayed answer against what the client was told and against the objects now (payments and
    refunds; payouts and external accounts for their keys, ``_judge_payout``)."""
    payouts = payouts or {}
    payout_by_creation_key = {p["key"]: p for p in payouts.values() if p["key"]}
    account_by_key = {a["key"]: a for a in (external_accounts or {}).values() if a["key"]}
    findings: list[dict] = []
    stale: list[dict] = []
    by_key: dict[str, list[Call]] = defaultdict(list)
    for call in calls:
        by_key[call.key].append(call)
    payment_by_creation_key = {p["key"]: p for p in payments.values() if p["key"]}
    refund_by_creation_key = {r["key"]: r for r in refunds.values() if r["key"]}
    # Which payment each key is about (a create key learns it from an answer or from the payment's creation key).
    about: dict[str, str | None] = {}
    for key, group in by_key.items():
        payment_id = next((c.payment_id for c in group if c.payment_id), None)
        replayed_payment = _payment_in(replays[key]["body"])
        if payment_id is None and replayed_payment is not None:
            payment_id = replayed_payment.get("id")
        if payment_id is None and key in payment_by_creation_key:
            payment_id = payment_by_creation_key[key]["id"]
        about[key] = payment_id
    # Capture/cancel claims per payment: at most one key may say it captured (or canceled) a payment.
    claims: dict[tuple[str, str], list[str]] = defaultdict(list)
    for key, group in by_key.items():
        call, answer = group[0], replays[key]
        if call.op in ("capture", "cancel") and answer["status"] is not None and 200 <= answer["status"] < 300:
            claims[(about[key], call.op)].append(key)

    def flag(key: str, reason: str, call: Call, answer: dict, current: dict | None) -> None:
        findings.append(
            {
                "key": key,
                "op": call.op,
                "reason": reason,
                "status": answer["status"],
                "answer": _short(answer["body"]),
                "payment": about.get(key),
                "now": None
                if current is None
                else {k: current[k] for k in ("status", "amount_captured", "amount_refunded")},
            }
        )

    for key, group in by_key.items():
        call, answer = group[0], replays[key]
        status, body = answer["status"], answer["body"]
        current = payments.get(about[key]) if about[key] else None
        if status is None:
            flag(key, "no answer to the replay", call, answer, current)
            continue
        if status >= 500:
            flag(key, f"replay answered {status}" + (" (stored)" if answer["replayed"] else ""), call, answer, current)
            continue
        if status == 409:
            flag(key, "still in progress after the key's lock lapsed", call, answer, current)
            continue
        if status == 422:
            flag(key, "the same request was refused as another one (422)", call, answer, current)
            continue
        told = [c for c in group if c.definite]
        if any(c.status != status for c in told):
            flag(key, f"replay {status} differs from the {told[0].status} the client was given", call, answer, current)
            continue
        replayed_status = (_payment_in(body) or {}).get("status")
        went_back = [
            c
            for c in told
            if (_payment_in(c.answer) or {}).get("status")
            and replayed_status
            and not reachable(_payment_in(c.answer)["status"], replayed_status)
        ]
        if went_back:
            flag(
                key,
                f"the client was told {_payment_in(went_back[0].answer)['status']}, the replay says {replayed_status}",
                call,
                answer,
                current,
            )
            continue
        if call.op in PAYOUT_OPS:
            payout_id = next((c.payout_id for c in group if c.payout_id), None)
            if payout_id is None and isinstance(body, dict) and body.get("object") == "payout":
                payout_id = body.get("id")
            payout = payouts.get(payout_id) if payout_id else payout_by_creation_key.get(key)
            problem = _judge_payout(call, status, body, payout, payout_by_creation_key, account_by_key)
            if problem:
                findings.append(
                    {
                        "key": key,
                        "op": call.op,
                        "reason": problem,
                        "status": status,
                        "answer": _short(body),
                        "payout": payout and payout["id"],
                        "now": payout and {"status": payout["status"], "amount": payout["amount"]},
                    }
                )
            continue
        problem, is_stale = _judge_one(
            call,
            status,
            body,
            current,
            about[key],
            payments,
            refunds,
            payment_by_creation_key,
            refund_by_creation_key,
            claims,
        )
        if problem:
            flag(key, problem, call, answer, current)
        elif is_stale or any(_in_flight(c.answer, current, refunds) for c in group):
            stale.append({"key": key, "op": call.op, "now": current and current["status"]})

    # An effect nobody was told about: a manual payment captured (or canceled) with no key claiming it.
    keys_of_payment: dict[str, list[str]] = defaultdict(list)
    for key in by_key:
        if about[key]:
            keys_of_payment[about[key]].append(key)
    flagged = {finding["key"] for finding in findings}
    for payment_id, keys in keys_of_payment.items():
        current = payments.get(payment_id)
        if current is None or current["capture_method"] != "manual" or flagged.intersection(keys):
            continue
        ops = {by_key[k][0].op for k in keys}
        if current["status"] == "succeeded" and "capture" in ops and not claims.get((payment_id, "capture")):
            findings.append(
                {
                    "key": None,
                    "op": "capture",
                    "payment": payment_id,
                    "status": None,
                    "answer": None,
                    "reason": "captured, but no capture key answered success",
                    "now": {
                        "status": current["status"],
                        "amount_captured": current["amount_captured"],
                        "amount_refunded": current["amount_refunded"],
                    },
                }
            )
        if current["status"] == "canceled" and "cancel" in ops and not claims.get((payment_id, "cancel")):
            findings.append(
                {
                    "key": None,
                    "op": "cancel",
                    "payment": payment_id,
                    "status": None,
                    "answer": None,
                    "reason": "canceled, but the cancel key did not answer success",
                    "now": {
                        "status": current["status"],
                        "amount_captured": current["amount_captured"],
                        "amount_refunded": current["amount_refunded"],
                    },
                }
            )
    return {"findings": findings, "stale": stale, "keys": len(by_key)}


def _judge_one(
    call, status, body, current, payment_id, payments, refunds, payment_by_creation_key, refund_by_creation_key, claims
) -> tuple[str | None, bool]:
    """``(problem or None, stale)`` for one key's replayed answer."""
    code = _error_code(body)
    answered = _payment_in(body)
    ok = 200 <= status < 300
    if call.op in ("create", "confirm", "capture", "cancel") and (ok or status == 402):
        if answered is None:
            return f"{status} without the payment", False
        if current is None:
            return "the payment in the answer does not exist", False
        if answered.get("id") != current["id"]:
            return "the answer is about another payment", False
        if not reachable(answered.get("status", ""), current["status"]):
            return f"answer says {answered.get('status')}, the payment is {current['status']}", False
        if answered.get("amount_captured", 0) > current["amount_captured"]:
            return (
                f"answer says amount_captured {answered.get('amount_captured')}, "
                f"the payment has {current['amount_captured']}"
            ), False
    # True when given, and since settled: a payment answered ``processing`` that has an outcome now.
    stale = bool(answered) and current is not None and answered.get("status") == "processing" != current["status"]

    if call.op == "create":
        if status == 402:
            return (None if current["status"] == "failed" else "a decline for a payment that did not fail"), False
        if ok:
            if call.confirm and answered.get("status") == "requires_confirmation":
                return "create with confirm answered success but the payment was never confirmed", False
            return None, stale
        created = payment_by_creation_key.get(call.key)
        if created is not None:
            return f"refused ({status} {code}) but the key created {created['id']}", False
        return None, False

    if call.op == "confirm":
        if status == 402:
            return (None if current["status"] == "failed" else "a decline for a payment that did not fail"), False
        if ok:
            if answered.get("status") == "requires_confirmation":
                return "confirm answered success but the payment is not confirmed", False
            return None, stale
        if current is not None and current["status"] != "requires_confirmation":
            return f"refused ({status} {code}) although this confirm took effect ({current['status']})", False
        return None, False

    if call.op == "capture":
        rivals = claims.get((payment_id, "capture"), [])
        if ok:
            if answered.get("status") != "succeeded":
                return f"capture answered success with status {answered.get('status')}", False
            wanted = call.amount if call.amount is not None else answered.get("amount")
            if answered.get("amount_captured") != wanted:
                return (
                    f"capture of {wanted} answered amount_captured {answered.get('amount_captured')} "
                    "(another request's outcome)"
                ), False
            if current["amount_captured"] != wanted:
                return f"capture of {wanted} answered success, the payment captured {current['amount_captured']}", False
            if len(rivals) > 1:
                return f"{len(rivals)} different captures of one payment all answered success", False
            return None, False
        if status == 402:
            return "a capture answered as a decline", False
        if (
            current is not None
            and current["status"] == "succeeded"
            and not rivals
            and (call.amount is None or current["amount_captured"] == call.amount)
        ):
            return f"refused ({status} {code}) although this capture took effect", False
        return None, False

    if call.op == "cancel":
        if ok:
            if answered.get("status") != "canceled" or current["status"] != "canceled":
                return f"cancel answered success, the payment is {current['status']}", False
            return None, False
        if current is not None and current["status"] == "canceled" and not claims.get((payment_id, "cancel")):
            return f"refused ({status} {code}) although this cancel took effect", False
        return None, False

    if call.op == "refund":
        mine = refund_by_creation_key.get(call.key)
        if ok:
            if not isinstance(body, dict) or body.get("object") != "refund":
                return f"{status} without the refund", False
            refund = refunds.get(body.get("id"))
            if refund is None:
                return "the refund in the answer does not exist", False
            if refund["amount"] != body.get("amount") or (call.amount is not None and call.amount != refund["amount"]):
                return f"refund answered amount {body.get('amount')}, the refund is {refund['amount']}", False
            if not reachable(body.get("status", ""), refund["status"], _REFUND_NEXT):
                return f"refund answered {body.get('status')}, the refund is {refund['status']}", False
            return None, body.get("status") == "pending" != refund["status"]
        if mine is not None:
            return f"refused ({status} {code}) but the key created refund {mine['id']}", False
        return None, False
    return None, False


def _judge_payout(call, status, body, payout, payout_by_creation_key, account_by_key) -> str | None:
    """The problem with one payout or external-account key's replayed answer, or None. ``payout``: the payout the
    key is about as it is now (None when there is none)."""
    code = _error_code(body)
    ok = 200 <= status < 300
    answered = body if isinstance(body, dict) else {}
    if call.op == "external_account":
        mine = account_by_key.get(call.key)
        if ok:
            if answered.get("object") != "external_account":
                return f"{status} without the external account"
            if mine is None or mine["id"] != answered.get("id"):
                return f"answered {answered.get('id')}, the key created {mine and mine['id']}"
            return None
        if mine is not None:
            return f"refused ({status} {code}) but the key created {mine['id']}"
        return None

    if call.op == "payout":
        mine = payout_by_creation_key.get(call.key)
        if ok:
            if answered.get("object") != "payout":
                return f"{status} without the payout"
            if mine is None or mine["id"] != answered.get("id"):
                return f"answered {answered.get('id')}, the key created {mine and mine['id']}"
            if answered.get("amount") != call.amount or mine["amount"] != call.amount:
                return f"a payout of {call.amount} answered {answered.get('amount')}, the payout is {mine['amount']}"
            if not reachable(answered.get("status", ""), mine["status"], _PAYOUT_NEXT):
                return f"answer says {answered.get('status')}, the payout is {mine['status']}"
            return None
        if mine is not None:
            return f"refused ({status} {code}) but the key created payout {mine['id']}"
        return None

    if call.op == "payout_cancel":
        if payout is None:
            return "a cancel of a payout that does not exist"
        if ok:
            if answered.get("status") != "canceled" or payout["status"] != "canceled":
                return f"cancel answered success ({answered.get('status')}), the payout is {payout['status']}"
            return None
        if payout["status"] == "canceled":
            # One cancel key per payout: no other request can have canceled it.
            return f"refused ({status} {code}) although this cancel took effect"
        if code == "payout_not_cancelable" and not payout["claimed"]:
            return "refused as not cancelable, but the payout was never claimed for sending"
        return None
    return None


def _in_flight(body, current: dict | None, refunds: dict) -> bool:
    """An answer the client was given that described work still in flight (a payment ``processing``, a refund
    ``pending``) whose object has an outcome now."""
    payment = _payment_in(body)
    if payment is not None:
        return payment.get("status") == "processing" and current is not None and current["status"] != "processing"
    if isinstance(body, dict) and body.get("object") == "refund" and body.get("status") == "pending":
        refund = refunds.get(body.get("id"))
        return refund is not None and refund["status"] != "pending"
    return False


def _short(body) -> str:
    text = json.dumps(body, sort_keys=True) if not isinstance(body, str) else body
    return text if len(text) <= 300 else text[:297] + "..."


# --- the processor's side -------------------------------------------------------------------------


def processor_agreement(payments: dict, charges: list[dict]) -> dict:
    """Each payment against its charges at BOTH acquirers (``charges``: every acquirer's, tagged ``acquirer``).

    A payment holds at most one charge in all, at the acquirer its ``processor`` names: a failover is safe
    only when the acquirer it left holds nothing for it."""
    by_reference: dict[str, list[dict]] = defaultdict(list)
    for charge in charges:
        by_reference[charge["reference"] or ""].append(charge)
    double, disagreements, orphans, wrong_acquirer = [], [], [], []
    for reference, group in by_reference.items():
        if reference not in payments:
            orphans.append({"reference": reference, "charges": [(c["acquirer"], c["id"]) for c in group]})
    for payment_id, payment in payments.items():
        group = by_reference.get(payment_id, [])
        if len(group) > 1:
            double.append(
                {
                    "payment": payment_id,
                    "charges": [(c["acquirer"], c["id"], c["status"], c["amount_captured"]) for c in group],
                }
            )
        elsewhere = [c for c in group if c["acquirer"] != payment["processor"]]
        if elsewhere:
            wrong_acquirer.append(
                {
                    "payment": payment_id,
                    "processor": payment["processor"],
                    "failed_over_from": payment["failed_over_from"],
                    "charges": [(c["acquirer"], c["id"], c["status"]) for c in group],
                }
            )
        captured = sum(c["amount_captured"] for c in group)
        refunded = sum(c["amount_refunded"] for c in group)
        held = [c for c in group if c["status"] == "authorized"]
        problems = []
        if captured != payment["amount_captured"]:
            problems.append(f"captured: platform {payment['amount_captured']}, processor {captured}")
        if refunded != payment["amount_refunded"]:
            problems.append(f"refunded: platform {payment['amount_refunded']}, processor {refunded}")
        if held and payment["status"] != "requires_capture":
            problems.append(f"authorised at the processor, {payment['status']} on the platform")
        if payment["status"] == "requires_capture" and not held:
            problems.append(
                "requires_capture on the platform, no authorisation at the processor: "
                + ",".join(c["status"] for c in group)
            )
        if payment["status"] == "processing":
            problems.append("still processing")
        if problems:
            disagreements.append(
                {
                    "payment": payment_id,
                    "status": payment["status"],
                    "problems": problems,
                    "processor": [(c["acquirer"], c["id"], c["status"]) for c in group],
                }
            )
    return {
        "double_charges": double,
        "wrong_acquirer": wrong_acquirer,
        "disagreements": disagreements,
        "orphan_charges": orphans,
        "charges": len(charges),
    }


def payout_agreement(payouts: dict, sent: list[dict]) -> dict:
    """Each platform payout against the payouts the processors hold (``sent``: both sandboxes', tagged
    ``acquirer``), found by their reference (the platform's payout id).

    A payout reaches a processor at most once, whatever crashed: exactly once when it is paid or in transit,
    never when canceled, at most once when failed (a refusal sends nothing; a closed account fails there), and
    always at the acquirer it names; and, after healing, its status is the processor's."""
    by_reference: dict[str, list[dict]] = defaultdict(list)
    for payout in sent:
        by_reference[payout["reference"] or ""].append(payout)
    twice, orphans, wrong_acquirer, disagreements = [], [], [], []
    for reference, group in by_reference.items():
        if reference not in payouts:
            orphans.append({"reference": reference, "payouts": [(p["acquirer"], p["id"]) for p in group]})
    for payout_id, payout in payouts.items():
        group = by_reference.get(payout_id, [])
        held = [(p["acquirer"], p["id"], p["status"], p["amount"]) for p in group]
        if len(group) > 1:
            twice.append({"payout": payout_id, "status": payout["status"], "processor": held})
        if any(p["acquirer"] != payout["processor"] for p in group):
            wrong_acquirer.append({"payout": payout_id, "processor_named": payout["processor"], "processor": held})
        status, problems = payout["status"], []
        if status in ("pending", "in_transit"):
            problems.append(f"still {status} after healing")
        if status in ("paid", "in_transit") and not group:
            problems.append(f"{status} on the platform, unknown to the processor")
        if status == "canceled" and group:
            problems.append("canceled on the platform, yet the processor has it")
        for held_payout in group:
            if (held_payout["amount"], held_payout["currency"]) != (payout["amount"], payout["currency"]):
                problems.append(
                    f"{payout['amount']} {payout['currency']} on the platform, "
                    f"{held_payout['amount']} {held_payout['currency']} at the processor"
                )
            if status in ("paid", "failed") and held_payout["status"] != status:
                problems.append(f"{status} on the platform, {held_payout['status']} at the processor")
        if len(group) == 1 and payout["processor_payout_id"] not in (None, group[0]["id"]):
            problems.append(f"names {payout['processor_payout_id']}, the processor's is {group[0]['id']}")
        if problems:
            disagreements.append({"payout": payout_id, "status": status, "problems": problems, "processor": held})
    return {
        "sent_twice": twice,
        "orphans": orphans,
        "wrong_acquirer": wrong_acquirer,
        "disagreements": disagreements,
        "at_processors": len(sent),
        "by_status": dict(Counter(p["status"] for p in payouts.values())),
        # Claimed more than once: the first send's outcome was unknown, and the sweep sent it again with its key.
        "sent_again": sum(1 for p in payouts.values() if p.get("attempts", 0) > 1),
    }


def payout_events(payouts: dict, events: list[tuple[str, str, str]], received) -> dict:
    """Each payout's events: ``payout.created`` and the event of its final status (``PAYOUT_EVENTS``), once each,
    recorded and received by the merchant (``received``: event ids); none for an outcome it did not have."""
    recorded: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for event_id, event_type, payout_id in events:
        recorded[payout_id].append((event_type, event_id))
    problems = []
    for payout_id, payout in payouts.items():
        expected = {"payout.created", PAYOUT_EVENTS.get(payout["status"])} - {None}
        types = Counter(event_type for event_type, _ in recorded.get(payout_id, []))
        for event_type in sorted(expected):
            if types[event_type] != 1:
                problems.append({"payout": payout_id, "event": event_type, "recorded": types[event_type]})
        for event_type in sorted(set(types) - expected):
            problems.append({"payout": payout_id, "event": event_type, "unexpected": types[event_type]})
        for event_type, event_id in recorded.get(payout_id, []):
            if event_id not in received:
                problems.append({"payout": payout_id, "event": event_type, "not_received": event_id})
    return {"events": len(events), "problems": problems}


def per_acquirer(payments: dict, charges: list[dict], names) -> dict[str, dict]:
    """Per acquirer: the payments it carries (``Payment.processor``), the charges it holds, the payments that
    failed over to it and away from it."""
    table = {name: Counter(payments=0, charges=0, failovers_in=0, failovers_out=0) for name in names}
    for payment in payments.values():
        table.setdefault(payment["processor"], Counter())["payments"] += 1
        if payment["failed_over_from"]:
            table[payment["processor"]]["failovers_in"] += 1
            table.setdefault(payment["failed_over_from"], Counter())["failovers_out"] += 1
    for charge in charges:
        table.setdefault(charge["acquirer"], Counter())["charges"] += 1
    return {name: dict(counts) for name, counts in table.items()}


def ledger_check(stack) -> dict:
    try:
        completed = stack.manage("ledger_check", "--json", timeout=300)
    except subprocess.TimeoutExpired:
        return {"ok": False, "exit": None, "failed": ["timed out"], "statuses": {}}
    report = {}
    try:
        start = completed.stdout.index("{")
        report = json.loads(completed.stdout[start:])
    except ValueError:
        pass
    failed = [c.get("name") for c in report.get("checks", []) if c.get("status") == "failed"]
    samples = {c.get("name"): c.get("sample") for c in report.get("checks", []) if c.get("status") == "failed"}
    ok = completed.returncode == 0 and bool(report.get("ok"))
    result = {
        "ok": ok,
        "exit": completed.returncode,
        "failed": failed,
        "samples": samples,
        # Each check's verdict by name ("passed", "failed", "skipped"), e.g. the payouts' "payouts_in_transit".
        "statuses": {c.get("name"): c.get("status") for c in report.get("checks", [])},
    }
    if not report:
        result["stderr"] = completed.stderr.strip()[-500:]
    return result


def events_delivered(platform: Platform, receiver) -> dict:
    events = platform.event_ids()
    received, invalid = receiver.snapshot()
    ids = {event_id for event_id, _ in events}
    missing = sorted(ids - set(received))
    duplicates = {event_id: count - 1 for event_id, count in received.items() if count > 1}
    unknown = sorted(set(received) - ids)
    return {
        "events": len(ids),
        "delivered": len(ids) - len(missing),
        "missing": missing,
        "duplicate_deliveries": sum(duplicates.values()),
        "events_delivered_more_than_once": len(duplicates),
        "unknown": unknown,
        "invalid_signatures": invalid,
        "by_type": dict(Counter(t for _, t in events)),
        "delivery_rows": dict(platform.delivery_statuses()),
    }
