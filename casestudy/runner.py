"""``manage.py casestudy`` (``make casestudy``): the same seeded workload and faults against the naive design and
the platform, then synchronous against asynchronous confirmation through a processor outage; then the figures.

One stack (``chaos.stack.Stack``: its own PostgreSQL database, its own redis-server, the two sandbox acquirers,
the web with the naive design mounted, a Celery worker and beat) serves every phase, one after the other:

1. ``naive``: the clients call ``/casestudy/naive/payments`` while ``casestudy.schedule.design_schedule``'s
   faults are injected (``chaos.faults.Injector``); the sandbox's webhooks go to the naive design's endpoint.
2. ``refined``: the same orders and the same faults against ``POST /api/v1/payments`` (confirm: true), the
   clients retrying with the same Idempotency-Key; the sandbox's webhooks go to the platform.
3. ``sync`` and ``async``: the same orders without those faults, plus one processor outage (the sandbox
   stalled), answered at once (``sync``) or with ``Prefer: respond-async`` (``async``).

After each phase every fault is undone and everything settles (``chaos.checks.settle``: the platform's
resolvers, its outbox, the sandbox's webhooks); then the figures are taken from the processor's own records
(each sandbox's database), the design's records and balance, and the merchant's receiver.
"""

import json
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import psycopg
import requests

from casestudy import schedule
from casestudy.workload import CONFIRMATION_TIMEOUT, DESIGN_TIMEOUT, MerchantReceiver, Order, run_orders
from chaos import checks
from chaos.faults import Fault, Injector
from chaos.hooks import ProcessorWebhookProxy
from chaos.stack import ACQUIRER_NAMES, ACQUIRERS, ROOT, Stack
from ledger.fees import platform_fee

SETTLE_SECONDS = 90
FIGURES = (
    "attempted",
    "double_charges",
    "lost_payments",
    "balance_drift",
    "events_lost",
    "events_duplicated",
    "p50_ms",
    "p99_ms",
    "per_second",
)
CONFIRMATION_FIGURES = ("final_status_p50_ms", "final_status_p99_ms", "known_at_once")


def log(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def percentile(values: list[float], share: float) -> float | None:
    """The ``share`` percentile (nearest rank) of ``values``, rounded to 0.1; None when there is none."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))], 1)


def net(amount: int) -> int:
    """What the merchant is owed for a capture of ``amount`` USD: less the platform's fee (ledger.fees)."""
    return amount - platform_fee(amount=amount, currency="USD")


class Run:
    """One case-study run: the stack, the proxies, the receiver, and each phase's figures."""

    def __init__(self, *, seed: int, seconds: float, database: str, run_dir: Path, phases: tuple[str, ...]):
        self.seed = seed
        self.seconds = seconds
        self.phases = phases
        self.receiver = MerchantReceiver()
        self.proxies = {a.name: ProcessorWebhookProxy(a.name, a.webhook_secret) for a in ACQUIRERS}
        self.stack = Stack(
            seed=seed,
            run_dir=run_dir,
            database=database or f"casestudy_{seed}",
            proxy_urls={name: proxy.url for name, proxy in self.proxies.items()},
            extra_env={
                "CASESTUDY_NAIVE_ENABLED": "1",
                "CASESTUDY_NAIVE_WEBHOOK_URL": self.receiver.url("naive"),
            },
            log=log,
        )
        self.sandboxes = [checks.Sandbox(name, self.stack.sandbox_database_path(name)) for name in ACQUIRER_NAMES]
        self.platform: checks.Platform | None = None
        self.client_errors: dict[str, list[str]] = {}

    # --- the stack ----------------------------------------------------------------------

    def start(self) -> None:
        self.stack.start()
        self.platform = checks.Platform(self.stack.database_url, self.stack.merchant_id)
        for name, proxy in self.proxies.items():
            proxy.target = self.platform_webhook_url(name)
        answer = requests.post(
            f"{self.stack.base_url}/api/v1/webhook_endpoints",
            json={"url": self.receiver.url("refined"), "events": ["*"]},
            headers={"Authorization": f"Bearer {self.stack.api_key}", "Idempotency-Key": f"casestudy-{self.seed}-we"},
            timeout=30,
        )
        answer.raise_for_status()
        self.receiver.secret = answer.json()["secret"]

    def platform_webhook_url(self, name: str) -> str:
        return f"{self.stack.base_url}/webhooks/processor/{name}/"

    def stop(self) -> None:
        self.stack.stop()
        self.receiver.close()
        for proxy in self.proxies.values():
            proxy.close()

    # --- the phases ---------------------------------------------------------------------

    def inject(self, faults: list[Fault]) -> Injector:
        injector = Injector(
            stack=self.stack, proxies=self.proxies, faults=[replace(f) for f in faults], seed=self.seed, log=log
        )
        injector.started = time.monotonic()
        injector.start()
        return injector

    def heal(self, injector: Injector) -> None:
        """Let the injector finish its schedule (the replay may come after the last order ended), then undo
        every fault that may still hold."""
        last = max((f.until or f.at) for f in injector.faults) if injector.faults else 0.0
        injector.join(timeout=max(0.0, injector.started + last + 10 - time.monotonic()))
        injector.halt()
        injector.join(timeout=30)
        self.stack.heal()
        for _ in range(15):
            try:
                injector.reset_sandbox_faults()
                break
            except Exception:  # noqa: BLE001 - the sandbox may still be waking up
                time.sleep(1)
        self.stack.wait_for_web()

    def settle(self) -> dict:
        return checks.settle(self.stack, self.receiver, self.platform, self.sandboxes, SETTLE_SECONDS, log=log)

    def run_phase(self, phase: str, faults: list[Fault]) -> tuple[list[Order], Injector, dict, float]:
        """The clients of ``phase`` against its design while ``faults`` are injected; then heal and settle.
        Returns the orders, the injector, the settling and the wall-clock time the phase began."""
        naive = phase == "naive"
        self.proxies["sandbox"].target = (
            f"{self.stack.base_url}/casestudy/naive/webhooks/processor"
            if naive
            else self.platform_webhook_url("sandbox")
        )
        for proxy in self.proxies.values():
            proxy.forget()  # the replay fault posts this phase's webhooks only
        log(f"casestudy: {phase}: {self.seconds:.0f}s, {len(faults)} faults")
        began_wall = time.time()
        injector = self.inject(faults)
        orders, errors = run_orders(
            seed=self.seed, phase=phase, base_url=self.stack.base_url, api_key=self.stack.api_key, seconds=self.seconds
        )
        self.client_errors[phase] = errors[:5]
        self.heal(injector)
        # The naive design has nothing that settles later (no resolver, no outbox, no retries): what it recorded
        # when its requests ended is all it will ever know. The platform is given time to settle.
        settled = {"settled": True, "seconds": 0.0, "left": {}} if naive else self.settle()
        log(f"casestudy: {phase}: {len(orders)} orders; settled={settled['settled']} in {settled['seconds']}s")
        return orders, injector, settled, began_wall

    # --- what happened --------------------------------------------------------------------

    def charges(self, phase: str, payments: dict[str, dict]) -> dict[str, list[dict]]:
        """The phase's charges at either acquirer, by order: the naive design's reference is the order id, the
        platform's is the payment's id (whose metadata names the order)."""
        by_order: dict[str, list[dict]] = {}
        for sandbox in self.sandboxes:
            for charge in sandbox.charges():
                reference = charge["reference"] or ""
                order_id = reference if phase == "naive" else payments.get(reference, {}).get("order_id")
                if order_id and order_id.startswith(f"{phase}-"):
                    by_order.setdefault(order_id, []).append(charge)
        return by_order

    def platform_payments(self, phase: str) -> dict[str, dict]:
        rows = self._sql(
            """
            SELECT p.id, p.status, p.amount_captured, p.metadata->>'order_id',
                   EXTRACT(EPOCH FROM (SELECT max(t.created) FROM payments_paymenttransition t
                                       WHERE t.payment_id = p.id) - p.created)
            FROM payments_payment p WHERE p.merchant_id = %s AND p.metadata->>'phase' = %s
            """,
            (self.stack.merchant_id, phase),
        )
        names = ("id", "status", "amount_captured", "order_id", "final_after_seconds")
        return {row[0]: dict(zip(names, row, strict=True)) for row in rows}

    def naive_records(self) -> tuple[list[dict], int]:
        rows = self._sql(
            "SELECT order_id, status, processor_charge_id FROM casestudy_naive_naivepayment WHERE merchant_id = %s",
            (self.stack.merchant_id,),
        )
        balance = self._sql(
            "SELECT coalesce(sum(balance), 0) FROM casestudy_naive_naivebalance WHERE merchant_id = %s",
            (self.stack.merchant_id,),
        )[0][0]
        # sum() of a bigint is a numeric (a Decimal): the balance is an integer of minor units.
        return [dict(zip(("order_id", "status", "processor_charge_id"), row, strict=True)) for row in rows], int(
            balance
        )

    def platform_balance(self) -> int:
        """The merchant's USD balance on the platform (available + pending): ``GET /api/v1/balance``."""
        answer = requests.get(
            f"{self.stack.base_url}/api/v1/balance",
            headers={"Authorization": f"Bearer {self.stack.api_key}"},
            timeout=30,
        )
        answer.raise_for_status()
        body = answer.json()
        return sum(
            line["amount"]
            for key in ("available", "pending")
            for line in body.get(key, [])
            if line["currency"] == "USD"
        )

    def _sql(self, sql: str, params=()) -> list[tuple]:
        with psycopg.connect(self.stack.database_url, autocommit=True, connect_timeout=10) as connection:
            return connection.execute(sql, params).fetchall()

    def figures(self, phase: str, orders: list[Order], balance_change: int) -> dict:
        """The phase's figures: attempted, double charges, lost payments, balance drift, events lost and
        duplicated, client latency and throughput."""
        payments = {} if phase == "naive" else self.platform_payments(phase)
        charges = self.charges(phase, payments)
        captured = {order_id: [c for c in found if c["amount_captured"] > 0] for order_id, found in charges.items()}
        captured = {order_id: found for order_id, found in captured.items() if found}
        if phase == "naive":
            records, _ = self.naive_records()
            known = {r["processor_charge_id"] for r in records if r["status"] == "succeeded"}
            lost = [c for found in captured.values() for c in found if c["id"] not in known]
        else:
            lost = [
                c
                for found in captured.values()
                for c in found
                if payments.get(c["reference"], {}).get("status") != "succeeded"
                or payments[c["reference"]]["amount_captured"] != c["amount_captured"]
            ]
        truth = sum(net(c["amount_captured"]) for found in captured.values() for c in found)
        notified, redeliveries = self.receiver.notifications(phase)
        latencies = [order.latency_ms for order in orders if order.latency_ms is not None]
        answered = [order for order in orders if order.ended is not None]
        result = {
            "attempted": len(orders),
            "double_charges": sum(1 for found in captured.values() if len(found) > 1),
            "lost_payments": len(lost),
            "balance_drift": balance_change - truth,
            "events_lost": sum(1 for order_id in captured if not notified.get(order_id)),
            "events_duplicated": sum(len(ids) - 1 for ids in notified.values() if ids),
            "p50_ms": percentile(latencies, 0.5),
            "p99_ms": percentile(latencies, 0.99),
            "per_second": round(len(answered) / self.seconds, 2),
            # Context for the figures above.
            "customers_charged": len(captured),
            "charges": sum(len(found) for found in captured.values()),
            "extra_charges": sum(len(found) - 1 for found in captured.values()),
            "processor_truth": truth,
            "balance": balance_change,
            "events_phantom": sum(1 for order_id, ids in notified.items() if ids and order_id not in captured),
            "redeliveries": redeliveries,
            "attempts": sum(order.attempts for order in orders),
            "retried_orders": sum(1 for order in orders if order.attempts > 1),
            "gave_up": sum(1 for order in orders if order.gave_up),
            "answers": dict(sum((order.answers for order in orders), Counter())),
        }
        if phase != "naive":
            finals = [
                p["final_after_seconds"] * 1000 for p in payments.values() if p["final_after_seconds"] is not None
            ]
            result["final_status_p50_ms"] = percentile([float(v) for v in finals], 0.5)
            result["final_status_p99_ms"] = percentile([float(v) for v in finals], 0.99)
            result["known_at_once"] = sum(1 for order in orders if order.known_at_once)
            result["payments"] = len(payments)
            result["still_processing"] = sum(1 for p in payments.values() if p["status"] == "processing")
        return result

    def outage_figures(self, orders: list[Order], began_wall: float, window: tuple[float, float]) -> dict:
        """How the clients fared while the processor was down and how long the backlog took once it was back."""
        start, end = began_wall + window[0], began_wall + window[1]
        during = [order for order in orders if start <= order.arrived_wall < end]
        outcomes = Counter(
            "gave_up" if order.gave_up else f"{order.status} {order.payment_status or ''}".strip() for order in during
        )
        rows = self._sql(
            """
            SELECT EXTRACT(EPOCH FROM max(t.created)) FROM payments_paymenttransition t
            JOIN payments_payment p ON p.id = t.payment_id WHERE p.metadata->>'phase' = %s
            """,
            (orders[0].phase if orders else "",),
        )
        last_final = rows[0][0]
        return {
            "window_seconds": [window[0], window[1]],
            "orders_arrived_during": len(during),
            "answers_during": dict(outcomes),
            "known_at_once_during": sum(1 for order in during if order.known_at_once),
            "last_final_status_after_resume_seconds": None if last_final is None else round(float(last_final) - end, 1),
        }


def run(
    *,
    seed: int,
    seconds: float,
    database: str = "",
    run_dir: Path | None = None,
    phases=None,
    drop_database: bool = True,
) -> dict:
    """One whole run; the results as ``manage.py casestudy --json`` prints them on its last line. The run's
    database (``casestudy_<seed>`` unless named) is dropped at the end unless ``drop_database`` is false."""
    phases = tuple(phases or ("naive", "refined", "sync", "async"))
    fault_schedule = schedule.fault_schedule(seed, seconds)
    design_faults = schedule.design_schedule(seed, seconds)
    outage = schedule.outage_window(seed, seconds)
    stall = [Fault(index=0, kind="processor_stall", at=outage[0], until=outage[1], pick=0.0, acquirer="sandbox")]
    run = Run(
        seed=seed,
        seconds=seconds,
        database=database,
        run_dir=run_dir or ROOT / f"var/casestudy/seed-{seed}",
        phases=phases,
    )
    results: dict = {"seed": seed, "seconds": seconds, "fault_schedule": fault_schedule}
    began = time.monotonic()
    try:
        log(f"casestudy: seed {seed}, {seconds:.0f}s per phase, phases {', '.join(phases)}; starting the stack")
        run.start()
        log(f"casestudy: stack up in {time.monotonic() - began:.0f}s (web {run.stack.base_url})")
        settling = {}
        for phase in phases:
            confirmation = phase in ("sync", "async")
            before = run.naive_records()[1] if phase == "naive" else run.platform_balance()
            orders, injector, settled, began_wall = run.run_phase(phase, stall if confirmation else design_faults)
            after = run.naive_records()[1] if phase == "naive" else run.platform_balance()
            figures = run.figures(phase, orders, after - before)
            figures["faults_injected"] = dict(injector.injected)
            figures["fault_errors"] = injector.errors[:5]
            if confirmation:
                figures["outage"] = run.outage_figures(orders, began_wall, outage)
            figures["client_timeout_seconds"] = (CONFIRMATION_TIMEOUT if confirmation else DESIGN_TIMEOUT)[1]
            results[phase] = figures
            settling[phase] = {key: settled[key] for key in ("settled", "seconds", "left")}
        results["settling"] = settling
        results["stack"] = {"startup_steps": run.stack.startup_steps, "unplanned_exits": run.stack.unplanned_exits()}
        results["receiver_invalid_signatures"] = run.receiver.invalid
        results["client_errors"] = run.client_errors
    finally:
        run.stop()
        if drop_database:
            try:
                run.stack.drop_database()
            except Exception as error:  # noqa: BLE001 - reported only
                log(f"casestudy: could not drop {run.stack.database}: {error}")
    results["total_seconds"] = round(time.monotonic() - began, 1)
    return results


def table(results: dict) -> str:
    """The terminal's table: one column per design or mode, one row per figure."""
    columns = [name for name in ("naive", "refined", "sync", "async") if name in results]
    rows = [*FIGURES, "customers_charged", "extra_charges", "events_phantom", "redeliveries", *CONFIRMATION_FIGURES]
    width = max(len(row) for row in rows) + 2
    lines = [
        f"Case study, seed {results['seed']}, {results['seconds']:.0f} s per phase "
        f"({results.get('total_seconds', 0):.0f} s in all)",
        "".ljust(width) + "".join(name.rjust(12) for name in columns),
    ]
    for row in rows:
        if not any(row in results[name] for name in columns):
            continue
        cells = []
        for name in columns:
            value = results[name].get(row)
            cells.append(("-" if value is None else str(value)).rjust(12))
        lines.append(row.ljust(width) + "".join(cells))
    for name in ("sync", "async"):
        if name in results and "outage" in results[name]:
            outage = results[name]["outage"]
            lines.append(
                f"{name} during the outage {outage['window_seconds']}: {outage['orders_arrived_during']} orders, "
                f"answers {outage['answers_during']}, known at once {outage['known_at_once_during']}; last final "
                f"status {outage['last_final_status_after_resume_seconds']} s after the processor came back"
            )
    lines.append("faults: " + "; ".join(f"{f['at']}s {f['kind']}" for f in results["fault_schedule"]["designs"]))
    return "\n".join(lines)


def write_reports(results: dict, out_dir: Path) -> dict:
    """``casestudy-<seed>.json`` and, when ``casestudy.report`` exists (issue 16's HTML report), the HTML."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {"json": out_dir / f"casestudy-{results['seed']}.json"}
    written["json"].write_text(json.dumps(results, indent=2, default=str))
    try:
        from casestudy.report import render_html
    except ImportError:
        render_html = None
    if render_html is not None:
        written["html"] = render_html(results, out_dir)
    return written
