"""``python -m chaos`` (``make chaos``): run the fault simulator once and report.

    CHAOS_SECONDS=120 CHAOS_SEED=1 python -m chaos [--clients 8] [--no-faults] [--settle-seconds 90]

Progress goes to stderr; the table and, as the last line, one line of JSON go to stdout.
Exits 0 when every check passed, 1 when one failed, 2 when the stack could not run.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import traceback
from collections import Counter

from chaos import checks, report
from chaos.clients import Api, Client, KeyLog, MerchantAccounts
from chaos.faults import KINDS, Injector, schedule
from chaos.hooks import MerchantReceiver, ProcessorWebhookProxy
from chaos.stack import ACQUIRER_NAMES, ACQUIRERS, PLATFORM_SETTINGS, ROOT, Stack, routed_to


def log(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def _terminate(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def database_name(value: str) -> str:
    """A PostgreSQL database name the simulator may drop: lower-case letters, digits and underscores."""
    if value and not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", value):
        raise argparse.ArgumentTypeError(f"{value!r}: lower-case letters, digits and underscores, 63 at most")
    return value


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m chaos", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("CHAOS_SECONDS") or 120))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("CHAOS_SEED") or 1))
    parser.add_argument("--clients", type=int, default=int(os.environ.get("CHAOS_CLIENTS") or 8))
    parser.add_argument(
        "--no-faults",
        action="store_true",
        default=os.environ.get("CHAOS_NO_FAULTS") == "1",
        help="run the clients only (a baseline, and the smoke test)",
    )
    parser.add_argument("--settle-seconds", type=float, default=float(os.environ.get("CHAOS_SETTLE_SECONDS") or 90))
    parser.add_argument(
        "--run-dir", default=os.environ.get("CHAOS_RUN_DIR") or "", help="default: var/chaos/seed-<seed>"
    )
    parser.add_argument(
        "--database",
        type=database_name,
        default=os.environ.get("CHAOS_DATABASE") or "",
        help="the run's PostgreSQL database, dropped and created again (default: chaos_<seed>)",
    )
    parser.add_argument(
        "--drop-database",
        action="store_true",
        default=os.environ.get("CHAOS_DROP_DATABASE") == "1",
        help="drop the run's database at the end (default: kept until the next run with the seed)",
    )
    parser.add_argument("--print-schedule", action="store_true", help="print the fault schedule and exit")
    return parser.parse_args(argv)


def _code_state() -> dict:
    """Which code ran: the commit and how many files differ from it (the tree may be mid-change)."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            return ""

    return {
        "commit": git("rev-parse", "--short", "HEAD").strip(),
        "changed_files": len([line for line in git("status", "--porcelain").splitlines() if line.strip()]),
    }


def _reason_key(reason: str) -> str:
    return re.sub(r"\d+", "N", re.sub(r"(pay|re|rf|ch|po|ea)_[0-9A-Z]+", r"\1_…", reason))


def main(argv=None) -> int:
    args = parse_args(argv)
    faults = [] if args.no_faults else schedule(args.seed, args.seconds)
    if args.print_schedule:
        for fault in faults:
            sys.stdout.write(fault.describe() + "\n")
        return 0
    run_dir = ROOT / (args.run_dir or f"var/chaos/seed-{args.seed}")
    code_state = _code_state()
    signal.signal(signal.SIGTERM, _terminate)
    began = time.monotonic()
    receiver = MerchantReceiver()
    proxies = {acquirer.name: ProcessorWebhookProxy(acquirer.name, acquirer.webhook_secret) for acquirer in ACQUIRERS}
    stack = Stack(
        seed=args.seed,
        run_dir=run_dir,
        database=args.database,
        proxy_urls={name: proxy.url for name, proxy in proxies.items()},
        log=log,
    )
    injector = None
    try:
        log(
            f"chaos: seed {args.seed}, {args.seconds:.0f}s, {args.clients} clients, {len(faults)} faults scheduled; "
            f"starting the stack in {run_dir}"
        )
        try:
            stack.start()
        except Exception:  # noqa: BLE001 - reported, exit 2
            log("chaos: the stack did not start:\n" + traceback.format_exc())
            return 2
        for name, proxy in proxies.items():
            proxy.target = f"{stack.base_url}/webhooks/processor/{name}/"
        keylog = KeyLog()
        setup_api = Api(stack.base_url, stack.api_key, keylog, hard_stop=float("inf"))
        status, body, _ = setup_api.post_once(
            "/api/v1/webhook_endpoints", {"url": receiver.url, "events": ["*"]}, f"chaos-{args.seed}-endpoint"
        )
        if status != 201:
            log(f"chaos: could not register the webhook endpoint: {status} {body}")
            return 2
        receiver.secret = body["secret"]
        startup_seconds = time.monotonic() - began
        acquirers = ", ".join(f"{name} {sandbox.base_url}" for name, sandbox in stack.sandboxes.items())
        log(
            f"chaos: stack up in {startup_seconds:.0f}s (web {stack.base_url}, {acquirers}, "
            f"redis :{stack.redis_port}, database {stack.database})"
        )

        # --- the fault phase --------------------------------------------------------------------
        start = time.monotonic()
        end_at = start + args.seconds
        hard_stop = end_at + 25
        sandbox_urls = {currency: stack.sandboxes[routed_to(currency)].base_url for currency in ("USD", "EUR")}
        api = Api(stack.base_url, stack.api_key, keylog, hard_stop=hard_stop, sandbox_urls=sandbox_urls)
        accounts = MerchantAccounts(args.seed, api, keylog)
        clients = [Client(n, args.seed, api, keylog, end_at, accounts) for n in range(args.clients)]
        injector = Injector(stack=stack, proxies=proxies, faults=faults, seed=args.seed, log=log)
        injector.started = start
        injector.start()
        for client in clients:
            client.start()
        for client in clients:
            client.join(timeout=max(1.0, hard_stop + 60 - time.monotonic()))
        injector.halt()
        injector.join(timeout=30)
        fault_phase = time.monotonic() - start
        log(f"chaos: clients done after {fault_phase:.0f}s: {keylog.flows} flows, {len(keylog.calls)} keys; healing")

        # --- heal, settle, replay, settle, check -----------------------------------------------------
        stack.heal()
        for _ in range(10):
            try:
                injector.reset_sandbox_faults()
                break
            except Exception:  # noqa: BLE001 - the sandbox may still be waking up
                time.sleep(1)
        stack.wait_for_web()
        checks_began = time.monotonic()
        platform = checks.Platform(stack.database_url, stack.merchant_id)
        sandboxes = [checks.Sandbox(name, stack.sandbox_database_path(name)) for name in ACQUIRER_NAMES]
        settled = checks.settle(stack, receiver, platform, sandboxes, args.settle_seconds, log=log)
        log(f"chaos: settled={settled['settled']} in {settled['seconds']}s; replaying {len(keylog.calls)} keys")
        replay_api = Api(stack.base_url, stack.api_key, KeyLog(), hard_stop=float("inf"))
        lock_timeout = float(PLATFORM_SETTINGS["IDEMPOTENCY_LOCK_TIMEOUT_SECONDS"])
        replays = checks.replay_all(replay_api, keylog.calls, lock_timeout)
        settled_again = checks.settle(stack, receiver, platform, sandboxes, min(45.0, args.settle_seconds), log=log)
        payments = platform.payments()
        refunds = platform.refunds()
        payouts = platform.payouts()
        charges = [charge for sandbox in sandboxes for charge in sandbox.charges()]
        sent = [payout for sandbox in sandboxes for payout in sandbox.payouts()]
        truth = checks.judge_all(keylog.calls, replays, payments, refunds, payouts, platform.external_accounts())
        agreement = checks.processor_agreement(payments, charges)
        payout_agreement = checks.payout_agreement(payouts, sent)
        acquirers = checks.per_acquirer(payments, charges, ACQUIRER_NAMES)
        ledger = checks.ledger_check(stack)
        maturing = platform.maturing()
        events = checks.events_delivered(platform, receiver)
        payout_events = checks.payout_events(payouts, platform.payout_events(), receiver.snapshot()[0])
        processor_webhooks = platform.processor_webhooks()
        sandbox_webhooks = {sandbox.name: dict(sandbox.webhook_statuses()) for sandbox in sandboxes}
        check_seconds = time.monotonic() - checks_began

        findings = truth["findings"]
        replays_5xx = sum(1 for answer in replays.values() if answer["status"] is not None and answer["status"] >= 500)
        transient_5xx = sum(1 for answer in replays.values() if answer["first_5xx"] and (answer["status"] or 0) < 500)
        reasons = Counter(_reason_key(f["reason"]) for f in findings).most_common()
        figures = {
            "double_charges": len(agreement["double_charges"]),
            "orphan_charges": len(agreement["orphan_charges"]),
            "wrong_acquirer": len(agreement["wrong_acquirer"]),
            "untruthful_answers": len(findings),
            "keys_replayed": truth["keys"],
            "replays_5xx": replays_5xx,
            "replays_transient_5xx": transient_5xx,
            "stale_answers": len(truth["stale"]),
            "processor_disagreements": len(agreement["disagreements"]),
            "ledger_ok": ledger["ok"],
            "ledger_failed": ledger["failed"],
            "events": events["events"],
            "events_missing": len(events["missing"]),
            "duplicate_deliveries": events["duplicate_deliveries"],
            "events_delivered_more_than_once": events["events_delivered_more_than_once"],
            "invalid_signatures": events["invalid_signatures"],
            "payouts": len(payouts),
            "payouts_sent_twice": len(payout_agreement["sent_twice"]),
            "payouts_orphan": len(payout_agreement["orphans"]),
            "payouts_wrong_acquirer": len(payout_agreement["wrong_acquirer"]),
            "payout_disagreements": len(payout_agreement["disagreements"]),
            "payout_events_missing": len(payout_events["problems"]),
            "ledger_payouts": ledger["statuses"].get("payouts_in_transit", "not run"),
            "ledger_funds_mature": ledger["statuses"].get("funds_mature", "not run"),
            "captures_pending_first": maturing["captures_pending_first"],
            "funds_matured": maturing["matured"],
            "funds_still_pending": maturing["still_pending"],
            "settled": settled["settled"] and settled_again["settled"],
            "unplanned_exits": sum(stack.unplanned_exits().values()),
        }
        ok = (
            figures["double_charges"] == 0
            and figures["orphan_charges"] == 0
            and figures["wrong_acquirer"] == 0
            and figures["untruthful_answers"] == 0
            and figures["processor_disagreements"] == 0
            and figures["ledger_ok"]
            and figures["ledger_payouts"] == "passed"
            and figures["ledger_funds_mature"] == "passed"
            and figures["events_missing"] == 0
            and figures["invalid_signatures"] == 0
            and figures["payouts_sent_twice"] == 0
            and figures["payouts_orphan"] == 0
            and figures["payouts_wrong_acquirer"] == 0
            and figures["payout_disagreements"] == 0
            and figures["payout_events_missing"] == 0
        )
        total = time.monotonic() - began
        simulator_errors = [e for c in clients for e in c.errors] + injector.errors
        result = {
            "ok": ok,
            "run": {
                "seed": args.seed,
                "seconds": args.seconds,
                "clients": args.clients,
                "flows": keylog.flows,
                "keys": truth["keys"],
                "requests": sum(keylog.attempts.values()),
                "payments": len(payments),
                "refunds": len(refunds),
                "processor_charges": agreement["charges"],
                "payouts": payout_agreement["by_status"],
                "processor_payouts": payout_agreement["at_processors"],
                "payouts_sent_again": payout_agreement["sent_again"],
                "startup_seconds": round(startup_seconds, 1),
                "fault_phase_seconds": round(fault_phase, 1),
                "check_seconds": round(check_seconds, 1),
                "total_seconds": round(total, 1),
                "run_dir": str(run_dir.relative_to(ROOT)) if run_dir.is_relative_to(ROOT) else str(run_dir),
                "database": stack.database,
                "no_faults": args.no_faults,
                "startup_steps": stack.startup_steps,
                "code": code_state,
            },
            "checks": figures,
            "acquirers": acquirers,
            "faults": {
                "scheduled": len(faults),
                "injected": dict(injector.injected),
                "injected_on": {f"{kind}@{acquirer}": n for (kind, acquirer), n in injector.injected_on.items()},
                "skipped": dict(injector.skipped),
                "kinds": {kind.name: kind.what for kind in KINDS},
            },
            "operations": report.operations(keylog.calls),
            "attempts": dict(keylog.attempts),
            "flow_plans": dict(keylog.flow_plans),
            "settle": settled,
            "settle_after_replay": settled_again,
            "ledger": ledger,
            "events": {k: v for k, v in events.items() if k not in ("missing", "unknown")},
            "processor_webhooks": {
                "platform_rows": processor_webhooks,
                "sandbox_rows": sandbox_webhooks,
                "proxy_forwarded": {
                    name: {str(k): v for k, v in proxy.forwarded.items()} for name, proxy in proxies.items()
                },
                "replayed": {name: proxy.replayed for name, proxy in proxies.items()},
                "replay_answers": {
                    name: {str(k): v for k, v in proxy.replay_answers.items()} for name, proxy in proxies.items()
                },
            },
            "unplanned_exits": stack.unplanned_exits(),
            "details": {
                "untruthful_reasons": reasons,
                "untruthful": findings[: checks.EXAMPLES],
                "double_charges": agreement["double_charges"][: checks.EXAMPLES],
                "wrong_acquirer": agreement["wrong_acquirer"][: checks.EXAMPLES],
                "orphan_charges": agreement["orphan_charges"][: checks.EXAMPLES],
                "disagreements": agreement["disagreements"][: checks.EXAMPLES],
                "events_missing": events["missing"][: checks.EXAMPLES],
                "stale": truth["stale"][: checks.EXAMPLES],
                "payouts_sent_twice": payout_agreement["sent_twice"][: checks.EXAMPLES],
                "payouts_orphan": payout_agreement["orphans"][: checks.EXAMPLES],
                "payouts_wrong_acquirer": payout_agreement["wrong_acquirer"][: checks.EXAMPLES],
                "payout_disagreements": payout_agreement["disagreements"][: checks.EXAMPLES],
                "payout_events_missing": payout_events["problems"][: checks.EXAMPLES],
            },
            "simulator_errors": simulator_errors[:20],
        }
        (run_dir / "result.json").write_text(json.dumps(result, indent=2, default=str))
        sys.stdout.write(report.render(result) + "\n")
        sys.stdout.write(json.dumps(_summary(result), default=str, separators=(",", ":")) + "\n")
        sys.stdout.flush()
        return 0 if ok else 1
    except KeyboardInterrupt:
        log("chaos: interrupted; stopping the stack")
        return 130
    finally:
        if injector is not None:
            injector.halt()
        stack.stop()
        receiver.close()
        for proxy in proxies.values():
            proxy.close()
        if args.drop_database:
            try:
                stack.drop_database()
            except Exception as error:  # noqa: BLE001 - reported only
                log(f"chaos: could not drop {stack.database}: {error}")


def _summary(result: dict) -> dict:
    """The last line: every figure, without the long lists (those are in result.json)."""
    return {
        "ok": result["ok"],
        **result["checks"],
        "acquirers": result["acquirers"],
        "run": result["run"],
        "faults": result["faults"]["injected"],
        "operations": result["operations"],
        "attempts": result["attempts"],
        "untruthful_reasons": dict(result["details"]["untruthful_reasons"]),
        "settle_seconds": [result["settle"]["seconds"], result["settle_after_replay"]["seconds"]],
        "unsettled": result["settle_after_replay"]["left"],
        "processor_webhooks": result["processor_webhooks"],
        "unplanned_exits": result["unplanned_exits"],
        "simulator_errors": len(result["simulator_errors"]),
    }


if __name__ == "__main__":
    sys.exit(main())
