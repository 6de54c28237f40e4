"""Bar-chart geometry for server-rendered SVG: numbers in, rectangles out.

The page draws the chart with a plain ``<svg>`` in the template, so there is no JavaScript
chart library to ship and the chart is there with scripts off. Everything here is
arithmetic, kept apart from the template so it can be tested without rendering.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# Room for the y-axis labels on the left, the x-axis labels underneath and half of the last
# x-axis label on the right, in SVG units.
LEFT, RIGHT, TOP, BOTTOM = 48.0, 28.0, 8.0, 22.0


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: int


@dataclass(frozen=True)
class Tick:
    position: float  # x for x-axis labels, y for y-axis labels
    label: str


@dataclass(frozen=True)
class BarChart:
    width: float
    height: float
    left: float
    right: float  # x where the plot ends
    baseline: float  # y of the zero line
    bars: tuple[Bar, ...]
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    total: int
    peak: Bar | None


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 x 10^k at or above ``value`` (axis tops read as round)."""
    if value <= 0:
        return 1.0
    exponent = 10 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= step * exponent:
            return step * exponent
    return 10.0 * exponent  # unreachable: 10 x 10^k is always at or above value


def _short(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 1_000:
        return f"{value / 1_000:g}k"
    return f"{value:g}"


def bar_chart(
    points: Sequence[tuple[str, int]],
    *,
    width: float = 720.0,
    height: float = 200.0,
    x_labels: int = 6,
) -> BarChart:
    """One bar per (label, value), scaled so the tallest reaches a round axis top.

    ``x_labels`` caps how many bars get a label under the axis, evenly spaced and always
    including the first and the last, so 30 daily bars do not print 30 overlapping dates.
    """
    plot_width, plot_height = width - LEFT - RIGHT, height - TOP - BOTTOM
    baseline = TOP + plot_height
    top = nice_ceiling(max((v for _, v in points), default=0))
    slot = plot_width / max(len(points), 1)
    gap = min(2.0, slot * 0.2)
    bars = []
    for i, (label, value) in enumerate(points):
        h = plot_height * value / top
        bars.append(
            Bar(
                x=round(LEFT + i * slot + gap / 2, 2),
                y=round(baseline - h, 2),
                width=round(max(slot - gap, 0.5), 2),
                height=round(h, 2),
                label=label,
                value=value,
            )
        )
    y_ticks = tuple(
        Tick(position=round(baseline - plot_height * f, 2), label=_short(top * f))
        for f in (0.0, 0.5, 1.0)
    )
    shown: list[int] = []
    if bars:
        n = min(x_labels, len(bars))
        shown = sorted({round(k * (len(bars) - 1) / max(n - 1, 1)) for k in range(n)})
    x_ticks = tuple(
        Tick(position=round(bars[i].x + bars[i].width / 2, 2), label=bars[i].label) for i in shown
    )
    peak = max(bars, key=lambda b: b.value) if bars and any(b.value for b in bars) else None
    return BarChart(
        width=width,
        height=height,
        left=LEFT,
        right=width - RIGHT,
        baseline=round(baseline, 2),
        bars=tuple(bars),
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        total=sum(v for _, v in points),
        peak=peak,
    )
