"""Server-side charts as inline SVG: bars, a heatmap, a sparkline, a profile plot, a QR code.

Every label is escaped; the result is :class:`markupsafe.Markup`, safe to place in a template.
Charts whose labels are long prose (the funnel, answer distributions, the heatmap) are drawn
as HTML by the templates instead, so text wraps and is never cut; this module gives them
their colours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import segno
from markupsafe import Markup, escape

FONT = "font-family='system-ui, sans-serif' font-size='12'"


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float
    #: Text shown after the bar (defaults to the value).
    note: str | None = None


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def bars(
    data: Sequence[Bar],
    *,
    title: str,
    width: int = 560,
    label_width: int = 200,
    row: int = 22,
    colour: str = "#4f7cac",
    note_width: int = 90,
) -> Markup:
    """Return horizontal bars, one row per item, scaled to the largest value."""
    top = max((b.value for b in data), default=0) or 1
    plot = width - label_width - note_width
    height = row * len(data) + 6
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' role='img' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' {FONT}><title>{escape(title)}</title>"
    ]
    for i, bar in enumerate(data):
        y = i * row + 3
        length = max(0.0, bar.value) / top * plot
        label = bar.label if len(bar.label) <= 32 else bar.label[:31] + "…"
        note = bar.note if bar.note is not None else _fmt(bar.value)
        parts.append(
            f"<text x='{label_width - 6}' y='{y + row * 0.65:.1f}' text-anchor='end'>"
            f"<title>{escape(bar.label)}</title>{escape(label)}</text>"
            f"<rect x='{label_width}' y='{y}' width='{length:.1f}' height='{row - 6}' "
            f"fill='{colour}'/>"
            f"<text x='{label_width + length + 4:.1f}' y='{y + row * 0.65:.1f}'>"
            f"{escape(note)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


#: Colour-blind-safe colours of segments (Okabe and Ito), then greys.
PALETTE = (
    "#0072b2",
    "#e69f00",
    "#009e73",
    "#cc79a7",
    "#56b4e9",
    "#d55e00",
    "#8c7a00",
    "#000000",
)


def colour(index: int) -> str:
    """Return the colour of the ``index``-th segment."""
    return PALETTE[index % len(PALETTE)]


def diverging(z: float | None, limit: float = 2.0) -> str:
    """Return the heatmap colour of a z-score (grey when there is none)."""
    return "#eee" if z is None else _diverging(z, limit)


def _diverging(z: float, limit: float = 2.0) -> str:
    """Blue for below average, white at the mean, red above; saturates at ``limit``."""
    t = max(-1.0, min(1.0, z / limit))
    if t >= 0:
        r, g, b = 255, round(255 - 155 * t), round(255 - 170 * t)
    else:
        r, g, b = round(255 + 175 * t), round(255 + 110 * t), 255
    return f"rgb({r},{g},{b})"


def heatmap(
    rows: Sequence[str],
    columns: Sequence[str],
    values: Sequence[Sequence[float | None]],
    *,
    sizes: Sequence[int],
    title: str,
    cell: int = 56,
    label_width: int = 190,
) -> Markup:
    """Return a segment x dimension heatmap of z-scores, with each segment's size as a bar."""
    header = 96
    size_width = 160
    width = label_width + cell * len(columns) + size_width
    height = header + 30 * len(rows) + 8
    biggest = max(sizes, default=0) or 1
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' role='img' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' {FONT}><title>{escape(title)}</title>"
    ]
    for j, column in enumerate(columns):
        x = label_width + j * cell + cell / 2
        short = column if len(column) <= 16 else column[:15] + "…"
        parts.append(
            f"<text transform='translate({x:.1f},{header - 6}) rotate(-40)'>"
            f"<title>{escape(column)}</title>{escape(short)}</text>"
        )
    parts.append(f"<text x='{label_width + cell * len(columns) + 8}' y='{header - 6}'>size</text>")
    for i, name in enumerate(rows):
        y = header + i * 30
        short = name if len(name) <= 28 else name[:27] + "…"
        parts.append(
            f"<text x='{label_width - 6}' y='{y + 19}' text-anchor='end'>"
            f"<title>{escape(name)}</title>{escape(short)}</text>"
        )
        for j, value in enumerate(values[i]):
            x = label_width + j * cell
            fill = "#eee" if value is None else _diverging(value)
            text = "–" if value is None else f"{value:+.1f}"
            parts.append(
                f"<rect x='{x}' y='{y}' width='{cell - 2}' height='28' fill='{fill}'>"
                f"<title>{escape(name)} · {escape(columns[j])}: z = {escape(text)}</title></rect>"
                f"<text x='{x + cell / 2 - 1:.1f}' y='{y + 19}' text-anchor='middle'>"
                f"{escape(text)}</text>"
            )
        x0 = label_width + cell * len(columns) + 8
        length = sizes[i] / biggest * (size_width - 70)
        parts.append(
            f"<rect x='{x0}' y='{y + 6}' width='{length:.1f}' height='16' fill='#888'/>"
            f"<text x='{x0 + length + 4:.1f}' y='{y + 19}'>{sizes[i]:,}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def sparkline(values: Sequence[int], *, title: str, width: int = 120, height: int = 28) -> Markup:
    """Return a small line of values (a segment's size over the last runs), oldest first."""
    if len(values) < 2:
        return Markup("")
    top = max(values) or 1
    step = width / max(1, len(values) - 1)
    points = " ".join(
        f"{i * step:.1f},{height - 3 - v / top * (height - 6):.1f}" for i, v in enumerate(values)
    )
    dots = "".join(
        f"<circle cx='{i * step:.1f}' cy='{height - 3 - v / top * (height - 6):.1f}' r='2'/>"
        for i, v in enumerate(values)
    )
    return Markup(
        f"<svg xmlns='http://www.w3.org/2000/svg' role='img' width='{width + 6}' "
        f"height='{height}' viewBox='-3 0 {width + 6} {height}'><title>{escape(title)}</title>"
        f"<polyline fill='none' stroke='#4f7cac' stroke-width='2' points='{points}'/>{dots}</svg>"
    )


@dataclass(frozen=True, slots=True)
class ProfileLine:
    """One segment in the profile plot: its name and, per dimension, (mean, low, high)."""

    name: str
    colour: str
    points: Sequence[tuple[float, float, float] | None]


def _wrap(text: str, width: int = 14, lines: int = 3) -> list[str]:
    """Break a label into lines of about ``width`` characters at spaces (never cut words)."""
    out: list[str] = []
    for word in text.split():
        if out and len(out[-1]) + 1 + len(word) <= width:
            out[-1] += " " + word
        else:
            out.append(word)
    if len(out) > lines:  # keep every word: the last line holds the rest
        out = [*out[: lines - 1], " ".join(out[lines - 1 :])]
    return out or [""]


def profile_plot(
    dimensions: Sequence[str],
    ranges: Sequence[tuple[float, float]],
    lines: Sequence[ProfileLine],
    *,
    title: str,
    column: int = 118,
    height: int = 260,
) -> Markup:
    """Return every segment's mean on each dimension, on the dimension's own scale, with its
    95% confidence interval as a whisker (a profile plot, as tidyLPA draws them).

    Each column is one dimension, scaled from its lowest to its highest possible score; the
    scale is written at the top and bottom of each column.
    """
    left, top, bottom = 16, 22, 64
    width = left + column * len(dimensions) + 8
    total = top + height + bottom
    plot_bottom = top + height

    def y(value: float, low: float, high: float) -> float:
        fraction = (value - low) / (high - low) if high > low else 0.5
        return plot_bottom - max(0.0, min(1.0, fraction)) * height

    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' role='img' width='{width}' height='{total}' "
        f"viewBox='0 0 {width} {total}' {FONT}><title>{escape(title)}</title>"
    ]
    for j, (label, (low, high)) in enumerate(zip(dimensions, ranges, strict=True)):
        x = left + column * j + column / 2
        parts.append(
            f"<line x1='{x:.1f}' y1='{top}' x2='{x:.1f}' y2='{plot_bottom}' stroke='#ccc'/>"
            f"<text x='{x:.1f}' y='{top - 6}' text-anchor='middle' fill='#666'>"
            f"{_fmt(high)}</text>"
            f"<line x1='{x - 8:.1f}' y1='{(top + plot_bottom) / 2:.1f}' x2='{x + 8:.1f}' "
            f"y2='{(top + plot_bottom) / 2:.1f}' stroke='#ccc'/>"
        )
        for n, words in enumerate(_wrap(label)):
            parts.append(
                f"<text x='{x:.1f}' y='{plot_bottom + 18 + 14 * n}' text-anchor='middle'>"
                f"{escape(words)}</text>"
            )
        parts.append(
            f"<text x='{x:.1f}' y='{plot_bottom + 60}' text-anchor='middle' fill='#666'>"
            f"{_fmt(low)}–{_fmt(high)}</text>"
        )
    spread = min(8.0, 36.0 / max(1, len(lines)))
    for i, line in enumerate(lines):
        offset = (i - (len(lines) - 1) / 2) * spread
        coords = []
        for j, point in enumerate(line.points):
            if point is None:
                continue
            low, high = ranges[j]
            mean, lo, hi = point
            x = left + column * j + column / 2 + offset
            coords.append(f"{x:.1f},{y(mean, low, high):.1f}")
            parts.append(
                f"<line x1='{x:.1f}' y1='{y(lo, low, high):.1f}' x2='{x:.1f}' "
                f"y2='{y(hi, low, high):.1f}' stroke='{line.colour}' stroke-width='2'/>"
                f"<circle cx='{x:.1f}' cy='{y(mean, low, high):.1f}' r='4' "
                f"fill='{line.colour}'><title>{escape(line.name)} · {escape(dimensions[j])}: "
                f"{mean:.2f} (95% CI {lo:.2f}–{hi:.2f})</title></circle>"
            )
        if len(coords) > 1:
            parts.append(
                f"<polyline fill='none' stroke='{line.colour}' stroke-width='1.5' "
                f"stroke-opacity='.7' points='{' '.join(coords)}'/>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def qr_code(url: str) -> Markup:
    """Return a QR code of ``url`` as inline SVG."""
    svg = segno.make(url, error="m").svg_inline(scale=4, border=2, title=f"QR code of {url}")
    return Markup(svg)
