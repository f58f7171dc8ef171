"""Server-side charts as inline SVG: horizontal bars, a funnel, a heatmap, a sparkline.

Every label is escaped; the result is :class:`markupsafe.Markup`, safe to place in a template.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
