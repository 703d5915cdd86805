"""Server-rendered SVG charts (no JavaScript, no chart library): volume per category per day, confidence.

Pure functions returning SVG text. Every label goes through `escape`, since category names and numbers
are the only inputs but the page must stay safe whatever a taxonomy file holds.
"""

from __future__ import annotations

from collections import Counter
from html import escape

# Colour-blind-safe palette (Okabe & Ito 2008), repeated when there are more categories.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")


def stacked_bars(per_day: dict[str, Counter[str]], title: str, width: int = 640, height: int = 220) -> str:
    """One bar per day, stacked by category, with a legend."""
    days = list(per_day)
    categories = sorted({c for counts in per_day.values() for c in counts})
    colour = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(categories)}
    top = max((sum(c.values()) for c in per_day.values()), default=0) or 1
    left, bottom, legend_w = 30, 30, 170
    plot_w, plot_h = width - left - legend_w, height - bottom - 10
    bar_w = plot_w / max(1, len(days))
    parts = [_open(width, height, title), f'<text x="0" y="14" font-size="11">{top}</text>']
    for i, day in enumerate(days):
        x = left + i * bar_w
        y = float(height - bottom)
        for category in categories:
            value = per_day[day].get(category, 0)
            if not value:
                continue
            h = plot_h * value / top
            y -= h
            parts.append(f'<rect x="{x + 2:.1f}" y="{y:.1f}" width="{bar_w - 4:.1f}" height="{h:.1f}" '
                         f'fill="{colour[category]}"><title>{escape(day)} {escape(category)}: {value}</title></rect>')
        parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{height - bottom + 14}" font-size="10" '
                     f'text-anchor="middle">{escape(day[5:])}</text>')
    for i, category in enumerate(categories):
        y = 12 + i * 16
        parts.append(f'<rect x="{width - legend_w + 10}" y="{y - 9}" width="10" height="10" fill="{colour[category]}"/>'
                     f'<text x="{width - legend_w + 24}" y="{y}" font-size="11">{escape(category)}</text>')
    if not categories:
        parts.append(f'<text x="{left + 10}" y="{height / 2:.0f}" font-size="12">no mail in this period</text>')
    parts.append("</svg>")
    return "".join(parts)


def histogram(bins: tuple[int, ...], title: str, width: int = 360, height: int = 220) -> str:
    """Bars over equal-width confidence bins from 0 to 1."""
    top = max(bins, default=0) or 1
    left, bottom = 30, 30
    plot_w, plot_h = width - left - 10, height - bottom - 10
    bar_w = plot_w / max(1, len(bins))
    parts = [_open(width, height, title), f'<text x="0" y="14" font-size="11">{top}</text>']
    for i, value in enumerate(bins):
        h = plot_h * value / top
        x = left + i * bar_w
        low = i / len(bins)
        parts.append(f'<rect x="{x + 1:.1f}" y="{height - bottom - h:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" '
                     f'fill="#0072B2"><title>{low:.1f}–{low + 1 / len(bins):.1f}: {value}</title></rect>')
        if i % 2 == 0:
            parts.append(f'<text x="{x:.1f}" y="{height - bottom + 14}" font-size="10">{low:.1f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _open(width: int, height: int, title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}"><title>{escape(title)}</title>')
