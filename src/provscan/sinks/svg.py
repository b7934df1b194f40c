"""Inline SVG charts for report.html, written by hand: bars, histograms and interval bars.

No plotting dependency: three chart shapes cover the report, and hand-written SVG keeps the file
self-contained, small and byte-stable (no generated ids, no timestamps, fixed number formatting).
Every chart is accessible: ``role="img"`` with a ``<title>`` and ``<desc>``, axis labels, and the
number written next to each bar so nothing depends on reading lengths. No ``xmlns`` attribute: inline
SVG in HTML does not need one, and the report then contains no URL at all.
"""

from __future__ import annotations

from html import escape

COLORS = {"drop": "#b03a2e", "flag": "#b9770e", "keep": "#1e8449", "": "#2e6da4"}
_FONT = 'font-size="12"'


def num(value: float) -> str:
    """Thousands separators for counts; the one number format of the report."""
    return f"{value:,}" if isinstance(value, int) else f"{value:,.4g}"


def pct(share: float) -> str:
    return f"{share * 100:.2f}%"


def _open(width: int, height: int, title: str, desc: str) -> list[str]:
    return [
        f'<svg class="chart" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
        f"<title>{escape(title)}</title><desc>{escape(desc)}</desc>",
    ]


def _clip(label: str, limit: int = 28) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "\u2026"


def bar_chart(title: str, items: list[tuple[str, int]], *, unit: str, colors: list[str] | None = None) -> str:
    """Horizontal bars, one per (label, count), the count written after each bar; axis label ``unit``."""
    label_w, bar_w, row_h, top = 210, 380, 22, 8
    width, height = label_w + bar_w + 90, top + row_h * len(items) + 40
    peak = max((n for _, n in items), default=0) or 1
    desc = "; ".join(f"{label}: {num(n)} {unit}" for label, n in items)
    out = _open(width, height, title, desc)
    for i, (label, n) in enumerate(items):
        y = top + i * row_h
        w = round(bar_w * n / peak, 1)
        color = (colors[i] if colors else None) or COLORS[""]
        out.append(
            f'<g><title>{escape(label)}: {num(n)} {escape(unit)}</title>'
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" {_FONT}>{escape(_clip(label))}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w}" height="{row_h - 6}" fill="{color}"/>'
            f'<text x="{label_w + w + 5}" y="{y + 15}" {_FONT} class="n">{num(n)}</text></g>'
        )
    axis_y = top + row_h * len(items) + 4
    out.append(f'<line x1="{label_w}" y1="{top}" x2="{label_w}" y2="{axis_y}" stroke="#555"/>')
    out.append(f'<line x1="{label_w}" y1="{axis_y}" x2="{label_w + bar_w}" y2="{axis_y}" stroke="#555"/>')
    out.append(f'<text x="{label_w}" y="{axis_y + 14}" {_FONT} text-anchor="middle">0</text>')
    out.append(f'<text x="{label_w + bar_w}" y="{axis_y + 14}" {_FONT} text-anchor="middle">{num(peak)}</text>')
    out.append(
        f'<text x="{label_w + bar_w / 2}" y="{axis_y + 30}" {_FONT} text-anchor="middle" class="axis">{escape(unit)}</text>'
    )
    out.append("</svg>")
    return "".join(out)


def histogram(title: str, counts: dict[int, int], limit: int, *, x_label: str, y_label: str) -> str:
    """Vertical bars for x = 0..max(limit, largest x); a dashed line marks ``limit`` (the threshold)."""
    top_x = max([limit, *counts])
    left, plot_w, plot_h, top = 56, 560, 170, 40
    slot = plot_w / (top_x + 1)
    width, height = left + plot_w + 20, top + plot_h + 48
    peak = max(counts.values(), default=0) or 1
    desc = "; ".join(f"{x_label} {x}: {num(counts.get(x, 0))} {y_label}" for x in range(top_x + 1))
    out = _open(width, height, title, desc + f"; threshold {limit}")
    base = top + plot_h
    for x in range(top_x + 1):
        n = counts.get(x, 0)
        h = round(plot_h * n / peak, 1)
        cx = left + x * slot
        out.append(
            f'<g><title>{escape(x_label)} {x}: {num(n)} {escape(y_label)}</title>'
            f'<rect x="{cx + slot * 0.1:.1f}" y="{base - h}" width="{slot * 0.8:.1f}" height="{h}" fill="{COLORS[""]}"/>'
            + (
                f'<text x="{cx + slot / 2:.1f}" y="{base - h - 3}" text-anchor="middle" font-size="10" class="n">{num(n)}</text>'
                if n
                else ""
            )
            + f'<text x="{cx + slot / 2:.1f}" y="{base + 13}" text-anchor="middle" font-size="10">{x}</text></g>'
        )
    tx = left + (limit + 1) * slot
    out.append(
        f'<line x1="{tx:.1f}" y1="{top - 22}" x2="{tx:.1f}" y2="{base}" stroke="#b03a2e" stroke-dasharray="4 3"/>'
    )
    out.append(
        f'<text x="{tx - 4:.1f}" y="{top - 24}" text-anchor="end" font-size="11" fill="#b03a2e">max_distance {limit}</text>'
    )
    out.append(f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="#555"/>')
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{base}" stroke="#555"/>')
    out.append(f'<text x="{left - 4}" y="{top + 4}" text-anchor="end" font-size="10">{num(peak)}</text>')
    out.append(f'<text x="{left - 4}" y="{base}" text-anchor="end" font-size="10">0</text>')
    out.append(
        f'<text x="{left + plot_w / 2}" y="{base + 30}" text-anchor="middle" {_FONT} class="axis">{escape(x_label)}</text>'
    )
    out.append(
        f'<text x="14" y="{top + plot_h / 2}" text-anchor="middle" {_FONT} class="axis" '
        f'transform="rotate(-90 14 {top + plot_h / 2})">{escape(y_label)}</text>'
    )
    out.append("</svg>")
    return "".join(out)


def _nice(peak: float) -> float:
    """Axis end for shares: the smallest of 1%, 2%, 5%, 10%, 20%, 50%, 100% that holds ``peak``."""
    for end in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5):
        if peak <= end:
            return end
    return 1.0


def interval_chart(title: str, items: list[tuple[str, float, float, float]]) -> str:
    """One row per (label, share, low, high): a line from low to high with caps, a dot at the share."""
    label_w, plot_w, row_h, top = 210, 360, 24, 8
    width, height = label_w + plot_w + 190, top + row_h * len(items) + 40
    end = _nice(max((hi for *_, hi in items), default=0.0))
    desc = "; ".join(f"{lb}: {pct(s)} ({pct(lo)} to {pct(hi)})" for lb, s, lo, hi in items)
    out = _open(width, height, title, desc)

    def x(share: float) -> float:
        return round(label_w + plot_w * min(max(share, 0.0), end) / end, 1)

    for i, (label, share, low, high) in enumerate(items):
        y = top + i * row_h + row_h / 2
        out.append(
            f'<g><title>{escape(label)}: {pct(share)}, interval {pct(low)} to {pct(high)}</title>'
            f'<text x="{label_w - 6}" y="{y + 4}" text-anchor="end" {_FONT}>{escape(_clip(label))}</text>'
            f'<line x1="{x(low)}" y1="{y}" x2="{x(high)}" y2="{y}" stroke="{COLORS[""]}" stroke-width="3"/>'
            f'<line x1="{x(low)}" y1="{y - 6}" x2="{x(low)}" y2="{y + 6}" stroke="{COLORS[""]}" stroke-width="2"/>'
            f'<line x1="{x(high)}" y1="{y - 6}" x2="{x(high)}" y2="{y + 6}" stroke="{COLORS[""]}" stroke-width="2"/>'
            f'<circle cx="{x(share)}" cy="{y}" r="4" fill="#111"/>'
            f'<text x="{label_w + plot_w + 8}" y="{y + 4}" {_FONT} class="n">{pct(share)} [{pct(low)}, {pct(high)}]</text></g>'
        )
    axis_y = top + row_h * len(items) + 4
    out.append(f'<line x1="{label_w}" y1="{axis_y}" x2="{label_w + plot_w}" y2="{axis_y}" stroke="#555"/>')
    for frac in (0.0, 0.5, 1.0):
        out.append(
            f'<text x="{label_w + plot_w * frac}" y="{axis_y + 14}" {_FONT} text-anchor="middle">{pct(end * frac)}</text>'
        )
    out.append(
        f'<text x="{label_w + plot_w / 2}" y="{axis_y + 30}" {_FONT} text-anchor="middle" class="axis">'
        'share of rows (point estimate and interval)</text>'
    )
    out.append("</svg>")
    return "".join(out)
