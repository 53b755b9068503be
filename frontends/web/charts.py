"""Bar charts as server-side SVG: no JavaScript, no library, nothing fetched.

A chart is drawn inline in the page (the CSP allows inline SVG, which runs no script);
it is an image to assistive technology (``role="img"`` named by its ``<title>``), and
every page that shows one prints the same figures as a table beside it.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH = 640
LABEL_WIDTH = 200
VALUE_WIDTH = 80
BAR_HEIGHT = 22
GAP = 8
PAD = 8


def bar_chart(
    title: str, bars: Sequence[tuple[str, float]], *, value_text: Sequence[str] = ()
) -> Markup:
    """Horizontal bars, one per ``(label, value)``, scaled to the largest value;
    ``value_text`` is what is printed after each bar (default: the value)."""
    largest = max((value for _label, value in bars), default=0) or 1
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH - 2 * PAD
    height = 2 * PAD + max(len(bars), 1) * (BAR_HEIGHT + GAP)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" width="100%" preserveAspectRatio="xMinYMin meet">',
        f"<title>{escape(title)}</title>",
    ]
    for index, (label, value) in enumerate(bars):
        top = PAD + index * (BAR_HEIGHT + GAP)
        length = max(0.0, value) / largest * span
        shown = value_text[index] if index < len(value_text) else f"{value:g}"
        middle = top + BAR_HEIGHT / 2
        parts.append(
            f'<text x="{LABEL_WIDTH - PAD}" y="{middle:.1f}" text-anchor="end" '
            f'dominant-baseline="middle" class="chart-label">{escape(label)}</text>'
            f'<rect x="{LABEL_WIDTH}" y="{top}" width="{length:.1f}" height="{BAR_HEIGHT}" '
            f'class="chart-bar"/>'
            f'<text x="{LABEL_WIDTH + length + PAD:.1f}" y="{middle:.1f}" '
            f'dominant-baseline="middle" class="chart-value">{escape(shown)}</text>'
        )
    parts.append("</svg>")
    # every text above went through escape(); the numbers are ours
    return Markup("".join(parts))  # noqa: S704
