"""The case study's HTML report: one self-contained page, its charts inline SVG drawn by matplotlib.

``render_html(results, out_dir)`` turns the run's results (the JSON object ``python manage.py casestudy``
prints last) into ``out_dir/casestudy.html``: a headline (how many customers the naive design charged twice,
how far its balance drifted, and the refined design's figures), a table of every figure of every design and
mode, bar charts naive against refined, the latency sync against async, and the fault timeline.

The page needs nothing else: no script, no stylesheet or font from elsewhere, no image beside it, so it opens
from the file, from the admin (``casestudy.admin_views``) or from a CI artefact alike. The same results give the
same bytes (the charts carry no date and a fixed SVG id salt). Every value reaches the page through Django's
autoescaping; the SVG is matplotlib's own output for numbers and names this module chose (the fault kinds and
design names in it are escaped by matplotlib's SVG writer).
"""

import io
import os
import re
import tempfile
from pathlib import Path

from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

REPORT_NAME = "casestudy.html"
DESIGNS = ("naive", "refined")
MODES = ("sync", "async")

# The failures the refined design must keep at zero: the headline and the first chart.
FAILURES = (
    ("double_charges", "customers charged twice"),
    ("lost_payments", "payments lost"),
    ("balance_drift", "balance drift (minor units)"),
    ("events_lost", "events lost"),
    ("events_duplicated", "events duplicated"),
)
# Failures too, when the run measures them (a run without them is not incomplete for lack of them).
OPTIONAL_FAILURES = (("events_phantom", "events for payments never made"),)
# The table's rows, in this order; any other figure a design carries follows, by its key.
FIGURES = (
    ("attempted", "payments attempted"),
    *FAILURES,
    *OPTIONAL_FAILURES,
    ("p50_ms", "latency p50 (ms)"),
    ("p99_ms", "latency p99 (ms)"),
    ("per_second", "throughput (payments/s)"),
    ("final_status_p50_ms", "time to final status p50 (ms)"),
    ("final_status_p99_ms", "time to final status p99 (ms)"),
    ("known_at_once", "outcome known at once"),
)
FAILURE_KEYS = {key for key, _ in (*FAILURES, *OPTIONAL_FAILURES)}

NAIVE_COLOUR = "#c0392b"
REFINED_COLOUR = "#1e8449"
SYNC_COLOUR = "#2e86c1"
ASYNC_COLOUR = "#8e44ad"


def render_html(results: dict, out_dir: Path) -> Path:
    """Write ``out_dir/casestudy.html`` for ``results`` and return its path.

    Guarantees: the file is replaced atomically (a reader sees the old report or the new one, never half of
    one); a design or figure missing from ``results`` shows as "—" rather than failing the run that measured
    everything else.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    context = {
        "headline": headline(results),
        "also_failed": also_failed(results),
        "verdict_ok": refined_is_clean(results),
        "seed": results.get("seed"),
        "seconds": results.get("seconds"),
        "table": comparison_table(results),
        "faults": fault_rows(results.get("fault_schedule") or []),
        "outages": outage_rows(results),
        "charts": [
            {
                "id": "chart-failures",
                "title": "What went wrong: naive against refined",
                "caption": (
                    "Red: the naive design (the processor called without an idempotency key, a balance column "
                    "updated in place, the webhook sent before the commit). Green: the refined design (idempotency "
                    "keys, a transactional outbox, a two-phase ledger). Balance drift is the design's balance "
                    "against the processor's records, in minor units."
                ),
                "svg": _svg(failures_figure(results)),
            },
            {
                "id": "chart-latency",
                "title": "Confirmation: synchronous against asynchronous",
                "caption": (
                    "Both modes are the refined design under the same workload plus a processor outage. "
                    "Synchronous: the client waits for the processor. Asynchronous (Prefer: respond-async): the "
                    "client gets 202 at once, and the final status comes later, from the worker or from the "
                    "resolver that asks the processor. Logarithmic scale."
                ),
                "svg": _svg(latency_figure(results)),
            },
            {
                "id": "chart-faults",
                "title": "The faults injected (the same schedule for every design)",
                "caption": (
                    "A bar is a window (Redis stopped, the processor slow or stalled); a diamond is an instant fault. "
                    "Times are from the start of each phase."
                ),
                "svg": _svg(timeline_figure(results)),
            },
        ],
    }
    html = render_to_string("casestudy/report.html", context)
    path = out_dir / REPORT_NAME
    handle, temporary = tempfile.mkstemp(dir=out_dir, prefix=".casestudy-", suffix=".html")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(html)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


# --- Words -----------------------------------------------------------------------------------------------


def _number(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() or abs(value) >= 100 else f"{value:,.1f}"
    return str(value)


def _figure(results: dict, design: str, key: str):
    return (results.get(design) or {}).get(key)


HEADLINE_KEYS = ("double_charges", "balance_drift")
# How the headline words each failure.
PHRASES = {
    "double_charges": "{} customers charged twice",
    "balance_drift": "balance drift {}",
    "lost_payments": "{} payments lost",
    "events_lost": "{} events lost",
    "events_duplicated": "{} events duplicated",
    "events_phantom": "{} events for payments never made",
}


def refined_is_clean(results: dict) -> bool:
    """Every failure of the refined design measured, and zero (a figure the run did not give is not a zero)."""
    return all(_figure(results, "refined", key) == 0 for key, _ in FAILURES)


def _phrases(results: dict, design: str, keys) -> list[str]:
    return [PHRASES[key].format(_number(_figure(results, design, key))) for key in keys]


def headline(results: dict) -> str:
    """One sentence: "naive: 3 customers charged twice, balance drift 2,400; refined: 0".

    The refined design's "0" only when every failure was measured and is zero, otherwise what failed, or what
    was not measured. The naive design's other failures are ``also_failed``'s, on the line below.
    """
    naive = "naive: " + ", ".join(_phrases(results, "naive", HEADLINE_KEYS))
    failed = [key for key in PHRASES if _figure(results, "refined", key)]
    missing = [label for key, label in FAILURES if _figure(results, "refined", key) is None]
    if failed:
        refined = "refined: " + ", ".join(_phrases(results, "refined", failed))
    elif missing:
        refined = "refined: not measured: " + ", ".join(missing)
    else:
        refined = "refined: 0"
    return f"{naive}; {refined}"


def also_failed(results: dict) -> str:
    """The naive design's other failures that are not zero: "also 5 payments lost, 9 events lost" (or "")."""
    keys = [key for key in PHRASES if key not in HEADLINE_KEYS and _figure(results, "naive", key)]
    return "The naive design also: " + ", ".join(_phrases(results, "naive", keys)) + "." if keys else ""


def comparison_table(results: dict) -> dict:
    """Rows of (label, [cells]) for every figure in any design or mode; failure cells above 0 are flagged."""
    columns = [name for name in (*DESIGNS, *MODES) if isinstance(results.get(name), dict)]
    known = [key for key, _ in FIGURES]
    extra = sorted(
        {
            key
            for name in columns
            for key, value in results[name].items()
            if key not in known and isinstance(value, int | float | bool | str)
        }
    )
    labels = dict(FIGURES)
    rows = []
    for key in [*known, *extra]:
        values = [results[name].get(key) for name in columns]
        if all(value is None for value in values):
            continue
        failure = key in FAILURE_KEYS
        cells = [{"text": _number(v), "bad": failure and bool(v), "good": failure and v == 0} for v in values]
        rows.append({"key": key, "label": labels.get(key, key.replace("_", " ")), "cells": cells})
    return {"columns": columns, "rows": rows}


# The phases a schedule given as a dict plays in: its "designs" faults in the naive and refined phases, its
# "confirmation" faults in the sync and async ones.
PHASE_NAMES = {"designs": "naive, refined", "confirmation": "sync, async"}
_START_KEYS = ("at_s", "at")
_END_KEYS = ("until_s", "until", "end_s")
_LENGTH_KEYS = ("duration_s", "for_s")
_NOT_DETAILS = {*_START_KEYS, *_END_KEYS, "kind", "index", "pick", "result"}


def _seconds(fault: dict, keys) -> float | None:
    for key in keys:
        value = fault.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def faults_of(schedule) -> list[dict]:
    """The schedule as rows {phase, kind, start, end, details}, in time order within each phase.

    Takes a list of faults (``{"at_s": 12.5, "kind": "redis_down", "until_s": 20.0, …}``, played in every
    phase) or a dict of such lists by phase (``{"designs": […], "confirmation": […]}``); a fault's start is
    ``at_s`` or ``at``, its end ``until_s``, ``until`` or ``end_s``, or its start plus ``duration_s``.
    """
    groups = schedule.items() if isinstance(schedule, dict) else [("", schedule)]
    rows = []
    for phase, faults in groups:
        if not isinstance(faults, list):
            continue
        for fault in faults:
            if not isinstance(fault, dict):
                continue
            start = _seconds(fault, _START_KEYS)
            end = _seconds(fault, _END_KEYS)
            length = _seconds(fault, _LENGTH_KEYS)
            if end is None and start is not None and length is not None:
                end = start + length
            details = ", ".join(
                f"{key}={value}" for key, value in fault.items() if key not in _NOT_DETAILS and value not in (None, "")
            )
            rows.append(
                {
                    "phase": PHASE_NAMES.get(phase, phase),
                    "kind": str(fault.get("kind", "?")),
                    "start": start,
                    "end": end,
                    "details": details,
                }
            )
    return rows


def fault_rows(schedule) -> list[dict]:
    """The fault table's rows: the times as text."""
    return [
        {**row, "at": _number(row["start"]), "until": "" if row["end"] is None else _number(row["end"])}
        for row in faults_of(schedule)
    ]


def outage_rows(results: dict) -> list[dict]:
    """What each confirmation mode saw during the processor outage (the ``outage`` object of sync and async)."""
    modes = [mode for mode in MODES if isinstance(_figure(results, mode, "outage"), dict)]
    keys = []
    for mode in modes:
        keys += [key for key in results[mode]["outage"] if key not in keys]
    rows = []
    for key in keys:
        cells = []
        for mode in modes:
            value = results[mode]["outage"].get(key)
            if isinstance(value, dict):
                text = ", ".join(f"{name}: {_number(count)}" for name, count in value.items()) or "none"
            elif isinstance(value, list | tuple):
                text = " – ".join(_number(item) for item in value)
            else:
                text = _number(value)
            cells.append(text)
        rows.append({"label": key.replace("_", " "), "cells": cells})
    return [{"modes": modes, "rows": rows}] if rows else []


# --- Charts ----------------------------------------------------------------------------------------------


def _new_figure(width: float, height: float):
    # The object API, not pyplot: no global state and no GUI backend, safe in a web or worker process. The SVG
    # keeps its text as text (readable, searchable, small) and carries no date, so equal results give equal bytes.
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    figure.set_facecolor("white")
    return figure


def _svg(figure) -> str:
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "casestudy", "font.size": 11}):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]  # no XML declaration or DOCTYPE inside an HTML page
    svg = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1 role="img"', svg, count=1)
    return mark_safe(svg)  # noqa: S308 - matplotlib's SVG of figures drawn above, its text escaped by its writer


def _label_bars(axes, bars, values) -> None:
    for bar, value in zip(bars, values, strict=True):
        axes.annotate(
            _number(value),
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=12,
            fontweight="bold",
        )


def failures_figure(results: dict):
    """One panel per failure (their scales differ: counts and minor units), a naive and a refined bar in each."""
    from matplotlib.ticker import MaxNLocator

    shown = [*FAILURES, *[f for f in OPTIONAL_FAILURES if any(_figure(results, d, f[0]) is not None for d in DESIGNS)]]
    figure = _new_figure(12, 3.4)
    panels = figure.subplots(1, len(shown))
    for axes, (key, label) in zip(panels, shown, strict=True):
        values = [_figure(results, design, key) or 0 for design in DESIGNS]
        values = [abs(value) if key == "balance_drift" else value for value in values]
        bars = axes.bar(DESIGNS, values, color=[NAIVE_COLOUR, REFINED_COLOUR], width=0.6)
        _label_bars(axes, bars, values)
        axes.set_title(label, fontsize=11, wrap=True)
        axes.set_ylim(0, max(max(values) * 1.25, 1))
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.spines[["top", "right"]].set_visible(False)
        axes.tick_params(axis="y", labelsize=9)
    return figure


def latency_figure(results: dict):
    """What the client waits for against when the outcome is final, sync and async side by side (log scale)."""
    figure = _new_figure(12, 3.6)
    left, right = figure.subplots(1, 2)
    groups = (
        (left, "latency the client sees", ("p50_ms", "p99_ms")),
        (right, "time to final status", ("final_status_p50_ms", "final_status_p99_ms")),
    )
    width = 0.38
    for axes, title, keys in groups:
        for offset, (mode, colour) in enumerate(((MODES[0], SYNC_COLOUR), (MODES[1], ASYNC_COLOUR))):
            values = [_figure(results, mode, key) or 0 for key in keys]
            positions = [index + (offset - 0.5) * width for index in range(len(keys))]
            bars = axes.bar(positions, values, width=width, color=colour, label=mode)
            _label_bars(axes, bars, values)
        axes.set_xticks(range(len(keys)), [key.removesuffix("_ms").replace("final_status_", "") for key in keys])
        axes.set_title(title + " (ms)", fontsize=11)
        axes.set_yscale("symlog", linthresh=10)
        top = max([_figure(results, mode, key) or 0 for mode in MODES for key in keys] + [10])
        axes.set_ylim(0, top * 4)
        axes.spines[["top", "right"]].set_visible(False)
        axes.legend(loc="upper left", frameon=False)
    return figure


def timeline_figure(results: dict):
    """Each kind of fault on its own row across the phase: a bar for a window, a diamond for an instant fault."""
    faults = [row for row in faults_of(results.get("fault_schedule") or []) if row["start"] is not None]
    labels = []
    for row in faults:
        label = f"{row['kind']} ({row['phase']})" if row["phase"] else row["kind"]
        row["label"] = label
        if label not in labels:
            labels.append(label)
    figure = _new_figure(12, max(1.6, 0.42 * len(labels) + 1.0))
    axes = figure.subplots()
    colours = ["#d35400", "#2874a6", "#7d3c98", "#b7950b", "#148f77", "#922b21", "#5d6d7e", "#1f618d"]
    for row in faults:
        line = labels.index(row["label"])
        colour = colours[line % len(colours)]
        if row["end"] is not None and row["end"] > row["start"]:
            axes.broken_barh([(row["start"], row["end"] - row["start"])], (line - 0.3, 0.6), color=colour)
        else:
            axes.plot([row["start"]], [line], marker="D", markersize=9, color=colour, linestyle="none")
    seconds = results.get("seconds")
    if isinstance(seconds, int | float) and seconds > 0:
        axes.set_xlim(0, seconds)
    axes.set_yticks(range(len(labels)), labels)
    axes.set_ylim(-0.7, max(len(labels), 1) - 0.3)
    axes.invert_yaxis()
    axes.set_xlabel("seconds into the phase")
    axes.grid(axis="x", alpha=0.3)
    axes.spines[["top", "right"]].set_visible(False)
    if not labels:
        axes.text(0.5, 0.5, "no faults in this run", transform=axes.transAxes, ha="center", va="center")
    return figure
