"""The table a run prints, and its last line of JSON."""

import json
from collections import Counter

from chaos.faults import KINDS

OPS = ("create", "confirm", "capture", "cancel", "refund", "external_account", "payout", "payout_cancel")
OUTCOMES = ("ok", "declined", "refused", "conflict", "5xx", "stored_5xx", "no_answer")


def _table(headers: list[str], rows: list[list]) -> list[str]:
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for index, row in enumerate(cells):
        lines.append(
            "  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)).rstrip()
        )
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return lines


def operations(calls) -> dict:
    """Final outcome of every request the clients sent (twins included), by operation."""
    table: dict[str, Counter] = {op: Counter() for op in OPS}
    for call in calls:
        outcome = call.outcome
        if outcome.startswith("refused_"):
            outcome = "refused"
        table.setdefault(call.op, Counter())[outcome] += 1
    return {op: dict(counter) for op, counter in table.items()}


def render(result: dict) -> str:
    lines = []
    run = result["run"]
    lines.append("")
    lines.append(
        f"chaos: seed {run['seed']}, {run['seconds']}s of faults, {run['clients']} clients, "
        f"{run['flows']} flows, {run['keys']} keys, {run['requests']} requests"
    )
    lines.append(
        f"       start-up {run['startup_seconds']}s, settle {result['settle']['seconds']}s + "
        f"{result['settle_after_replay']['seconds']}s, checks {run['check_seconds']}s, "
        f"total {run['total_seconds']}s; files in {run['run_dir']}"
    )
    lines.append("")
    lines.append("Faults injected")
    faults = result["faults"]
    on = faults.get("injected_on", {})
    acquirers = list(result.get("acquirers", {}))
    lines += _table(
        ["fault", "injected", *(f"on {name}" for name in acquirers), "skipped"],
        [
            [
                k.name,
                faults["injected"].get(k.name, 0),
                *(on.get(f"{k.name}@{name}", "") if k.on_acquirer else "" for name in acquirers),
                faults["skipped"].get(k.name, 0),
            ]
            for k in KINDS
        ],
    )
    lines.append("")
    lines.append("Acquirers (payments by Payment.processor, charges each sandbox holds, failovers to and from it)")
    lines += _table(
        ["acquirer", "payments", "charges", "failovers in", "failovers out"],
        [
            [name, row["payments"], row["charges"], row["failovers_in"], row["failovers_out"]]
            for name, row in result.get("acquirers", {}).items()
        ],
    )
    lines.append("")
    payouts = run.get("payouts", {})
    lines.append(
        f"Payouts: {sum(payouts.values())} on the platform ("
        + ", ".join(f"{status} {count}" for status, count in sorted(payouts.items()))
        + f"), {run.get('processor_payouts', 0)} at the processors; {run.get('payouts_sent_again', 0)} sent again "
        "with their key after an unknown outcome"
    )
    lines.append("")
    lines.append("Operations by final outcome (after retries with the same key)")
    ops = result["operations"]
    rows = [[op] + [ops.get(op, {}).get(o, 0) for o in OUTCOMES] + [sum(ops.get(op, {}).values())] for op in OPS]
    lines += _table(["operation", *OUTCOMES, "total"], rows)
    attempts = result["attempts"]
    lines.append("attempts: " + ", ".join(f"{k} {v}" for k, v in sorted(attempts.items(), key=lambda kv: -kv[1])))
    lines.append("")
    lines.append("Checks")
    checks = result["checks"]
    lines += _table(
        ["check", "value", "verdict"],
        [
            [
                "double charges (payments with >1 charge across both acquirers)",
                checks["double_charges"],
                _ok(checks["double_charges"] == 0),
            ],
            [
                "charges held by another acquirer than the payment's processor",
                checks["wrong_acquirer"],
                _ok(checks["wrong_acquirer"] == 0),
            ],
            ["processor charges for no payment", checks["orphan_charges"], _ok(checks["orphan_charges"] == 0)],
            [
                f"untruthful answers (of {checks['keys_replayed']} keys replayed)",
                checks["untruthful_answers"],
                _ok(checks["untruthful_answers"] == 0),
            ],
            ["  of which 5xx on replay", checks["replays_5xx"], ""],
            ["answers still in flight (processing/pending, settled since)", checks["stale_answers"], "info"],
            [
                "disagreements with the processor",
                checks["processor_disagreements"],
                _ok(checks["processor_disagreements"] == 0),
            ],
            [
                "ledger_check",
                "passed" if checks["ledger_ok"] else "FAILED " + ",".join(checks["ledger_failed"]),
                _ok(checks["ledger_ok"]),
            ],
            [
                f"events not delivered (of {checks['events']})",
                checks["events_missing"],
                _ok(checks["events_missing"] == 0),
            ],
            ["duplicate event deliveries", checks["duplicate_deliveries"], "info"],
            [
                "invalid webhook signatures at the receiver",
                checks["invalid_signatures"],
                _ok(checks["invalid_signatures"] == 0),
            ],
            [
                f"payouts at the processors more than once (of {checks['payouts']})",
                checks["payouts_sent_twice"],
                _ok(checks["payouts_sent_twice"] == 0),
            ],
            ["processor payouts for no payout", checks["payouts_orphan"], _ok(checks["payouts_orphan"] == 0)],
            [
                "payouts held by another acquirer than the payout's",
                checks["payouts_wrong_acquirer"],
                _ok(checks["payouts_wrong_acquirer"] == 0),
            ],
            [
                "payout disagreements with the processor (status, amount, held or not)",
                checks["payout_disagreements"],
                _ok(checks["payout_disagreements"] == 0),
            ],
            [
                "payout events missing, repeated or not received",
                checks["payout_events_missing"],
                _ok(checks["payout_events_missing"] == 0),
            ],
            ["ledger_check payouts_in_transit", checks["ledger_payouts"], _ok(checks["ledger_payouts"] == "passed")],
            [
                f"funds matured (of {checks.get('captures_pending_first', 0)} captures pending first)",
                checks.get("funds_matured", 0),
                "info",
            ],
            ["funds still pending after healing (not yet due)", checks.get("funds_still_pending", 0), "info"],
            [
                "ledger_check funds_mature (each matured once, never early)",
                checks.get("ledger_funds_mature", "not run"),
                _ok(checks.get("ledger_funds_mature") == "passed"),
            ],
            ["settled before the checks", "yes" if checks["settled"] else "no", "info"],
            ["platform processes that died by themselves", checks["unplanned_exits"], "info"],
        ],
    )
    details = result["details"]
    for title, items in (
        ("Untruthful answers", details["untruthful"]),
        ("Double charges", details["double_charges"]),
        ("Charges at another acquirer than the payment's", details["wrong_acquirer"]),
        ("Disagreements with the processor", details["disagreements"]),
        ("Events not delivered", details["events_missing"]),
        ("Payouts at the processors more than once", details.get("payouts_sent_twice")),
        ("Processor payouts for no payout", details.get("payouts_orphan")),
        ("Payouts at another acquirer than theirs", details.get("payouts_wrong_acquirer")),
        ("Payout disagreements with the processor", details.get("payout_disagreements")),
        ("Payout events missing, repeated or not received", details.get("payout_events_missing")),
    ):
        if items:
            lines.append("")
            lines.append(f"{title} (first {len(items)}):")
            for item in items:
                lines.append("  " + json.dumps(item, sort_keys=True))
    if details["untruthful_reasons"]:
        lines.append("")
        lines.append("Untruthful answers by reason:")
        for reason, count in details["untruthful_reasons"]:
            lines.append(f"  {count:5d}  {reason}")
    if result.get("simulator_errors"):
        lines.append("")
        lines.append("Simulator errors: " + "; ".join(result["simulator_errors"][:10]))
    lines.append("")
    lines.append(f"chaos: {'OK' if result['ok'] else 'FAILED'}")
    return "\n".join(lines)


def _ok(condition: bool) -> str:
    return "ok" if condition else "FAIL"
