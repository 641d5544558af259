"""The dashboard's charts, drawn on the server as inline SVG: no script, no library, nothing fetched from elsewhere.

Each chart is an ``<svg role="img">`` named by its ``<title>`` and summed up by its ``<desc>`` (what a screen reader
says), with a ``<title>`` on every bar or point (the tooltip of a pointer), and the same figures as a table
(``Chart.columns``, ``Chart.rows``) that the page shows under it, folded. Colours are CSS classes styled by
``backoffice/static/backoffice/dashboard.css``, so they follow the admin's light and dark themes. Text is escaped
here; the SVG is then marked safe.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH = 640
HEIGHT = 220
MARGIN_LEFT = 56
MARGIN_RIGHT = 8
MARGIN_TOP = 10
MARGIN_BOTTOM = 26
BAR_ROW = 26  # the height of one row of a horizontal bar chart
LABEL_WIDTH = 170  # the labels' column of a horizontal bar chart
VALUE_WIDTH = 90  # the values' column of a horizontal bar chart


@dataclass(frozen=True)
class Series:
    name: str
    css: str  # the CSS class that colours it
    values: Sequence[float]


@dataclass
class Chart:
    id: str
    title: str
    description: str
    svg: SafeString
    legend: list[tuple[str, str]] = field(default_factory=list)  # (name, css class)
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10ⁿ at or above ``value`` (1 for nothing): the top of an axis."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def compact(value: float) -> str:
    """``1234567`` → ``1.2M``: an axis label."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}" if value != int(value) else f"{int(value)}"


def _svg(chart_id: str, title: str, description: str, body: list[str], height: int) -> SafeString:
    # Safe: every text and attribute value in it went through escape(); the rest is numbers and fixed markup.
    return mark_safe(  # noqa: S308
        f'<svg class="chart" id="{escape(chart_id)}" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" preserveAspectRatio="xMinYMin meet">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
        f'<desc id="{escape(chart_id)}-desc">{escape(description)}</desc>' + "".join(body) + "</svg>"
    )


def _axis(top: float, plot_height: float, fmt: Callable[[float], str], ticks: int = 4) -> list[str]:
    body = []
    for k in range(ticks + 1):
        value = top * k / ticks
        y = MARGIN_TOP + plot_height - plot_height * k / ticks
        body.append(f'<line class="grid" x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        body.append(
            f'<text class="tick" x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(fmt(value))}</text>'
        )
    return body


def columns(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    fmt: Callable[[float], str] = compact,
    fmt_exact: Callable[[float], str] = lambda v: f"{v:,.0f}",
    label_every: int = 1,
    description: str = "",
) -> Chart:
    """Stacked columns, one per label (a day, an hour), one segment per series (a status)."""
    series = [s for s in series if any(s.values)] or list(series[:1])
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    top = nice_ceiling(max(totals, default=0))
    plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    band = (WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / max(len(labels), 1)
    bar = max(band * 0.72, 1)
    body = _axis(top, plot_height, fmt)
    for i, label in enumerate(labels):
        x = MARGIN_LEFT + band * i + (band - bar) / 2
        y = MARGIN_TOP + plot_height
        for s in series:
            value = s.values[i]
            if value <= 0:
                continue
            height = plot_height * value / top
            y -= height
            body.append(
                f'<rect class="{escape(s.css)}" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{height:.1f}">'
                f"<title>{escape(label)}: {escape(s.name)} {escape(fmt_exact(value))}</title></rect>"
            )
        if i % label_every == 0:
            body.append(
                f'<text class="tick" x="{x + bar / 2:.1f}" y="{HEIGHT - 8}" text-anchor="middle">{escape(label)}</text>'
            )
    body.append(
        f'<line class="axis" x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" '
        f'y1="{MARGIN_TOP + plot_height}" y2="{MARGIN_TOP + plot_height}"/>'
    )
    description = description or f"{title}: {fmt_exact(sum(totals))} in all."
    return Chart(
        id=chart_id,
        title=title,
        description=description,
        svg=_svg(chart_id, title, description, body, HEIGHT),
        legend=[(s.name, s.css) for s in series],
        columns=["", *(s.name for s in series), "total"],
        rows=[
            [label, *(fmt_exact(s.values[i]) for s in series), fmt_exact(totals[i])]
            for i, label in enumerate(labels)
            if totals[i]
        ],
    )


def line(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    css: str = "line-rate",
    label_every: int = 1,
    description: str = "",
) -> Chart:
    """A line of rates (0 to 1) shown as percentages; a label with no value (``None``) breaks the line."""
    plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    band = (WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / max(len(labels), 1)
    body = _axis(1, plot_height, lambda v: f"{v:.0%}")
    points: list[list[tuple[float, float]]] = [[]]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        x = MARGIN_LEFT + band * i + band / 2
        if i % label_every == 0:
            body.append(f'<text class="tick" x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="middle">{escape(label)}</text>')
        if value is None:
            points.append([])
            continue
        y = MARGIN_TOP + plot_height * (1 - value)
        points[-1].append((x, y))
        body.append(
            f'<circle class="{escape(css)}" cx="{x:.1f}" cy="{y:.1f}" r="3">'
            f"<title>{escape(label)}: {value:.1%}</title></circle>"
        )
    for run in points:
        if len(run) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
            body.insert(0, f'<polyline class="{escape(css)}" fill="none" points="{path}"/>')
    description = description or title
    return Chart(
        id=chart_id,
        title=title,
        description=description,
        svg=_svg(chart_id, title, description, body, HEIGHT),
        columns=["", "rate"],
        rows=[[label, f"{value:.1%}"] for label, value in zip(labels, values, strict=True) if value is not None],
    )


def bars(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    fmt_exact: Callable[[float], str] = lambda v: f"{v:,.0f}",
    description: str = "",
) -> Chart:
    """Horizontal stacked bars, one row per label (a code, a type), one segment per series (an age)."""
    series = [s for s in series if any(s.values)] or list(series[:1])
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    top = max(totals, default=0) or 1
    height = MARGIN_TOP + BAR_ROW * max(len(labels), 1) + 4
    plot_width = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    body = []
    for i, label in enumerate(labels):
        y = MARGIN_TOP + BAR_ROW * i
        body.append(
            f'<text class="label" x="{LABEL_WIDTH - 8}" y="{y + BAR_ROW / 2 + 4:.1f}" text-anchor="end">'
            f"{escape(label)}</text>"
        )
        x = LABEL_WIDTH
        for s in series:
            value = s.values[i]
            if value <= 0:
                continue
            width = max(plot_width * value / top, 1.5)
            body.append(
                f'<rect class="{escape(s.css)}" x="{x:.1f}" y="{y + 4:.1f}" width="{width:.1f}" '
                f'height="{BAR_ROW - 8}"><title>{escape(label)}: {escape(s.name)} {escape(fmt_exact(value))}</title>'
                "</rect>"
            )
            x += width
        body.append(
            f'<text class="value" x="{x + 6:.1f}" y="{y + BAR_ROW / 2 + 4:.1f}">{escape(fmt_exact(totals[i]))}</text>'
        )
    description = description or title
    return Chart(
        id=chart_id,
        title=title,
        description=description,
        svg=_svg(chart_id, title, description, body, height),
        legend=[(s.name, s.css) for s in series] if len(series) > 1 else [],
        columns=["", *(s.name for s in series)] + (["total"] if len(series) > 1 else []),
        rows=[
            [label, *(fmt_exact(s.values[i]) for s in series)] + ([fmt_exact(totals[i])] if len(series) > 1 else [])
            for i, label in enumerate(labels)
        ],
    )
