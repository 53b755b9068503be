"""The console's SVG bar charts: scaled to the largest bar, text escaped, no script."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from postroom.frontends.web.charts import LABEL_WIDTH, bar_chart

SVG = "{http://www.w3.org/2000/svg}"


def test_bars_are_scaled_to_the_largest_and_labelled() -> None:
    svg = ET.fromstring(str(bar_chart("Cases by channel", [("web", 10), ("phone", 5)])))
    assert svg.get("role") == "img"
    assert svg.find(f"{SVG}title").text == "Cases by channel"
    widths = [float(rect.get("width")) for rect in svg.iter(f"{SVG}rect")]
    assert widths[0] == 2 * widths[1] > 0
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert texts == ["web", "10", "phone", "5"]


def test_labels_are_escaped_and_nothing_runs() -> None:
    chart = str(bar_chart("<b>x</b>", [("<script>alert(1)</script>", 1)], value_text=["&"]))
    assert "<script" not in chart
    assert "&lt;script&gt;" in chart
    assert "&amp;" in chart
    ET.fromstring(chart)  # still well-formed


def test_an_empty_or_all_zero_chart_draws_without_dividing_by_zero() -> None:
    ET.fromstring(str(bar_chart("Nothing", [])))
    svg = ET.fromstring(str(bar_chart("Zero", [("web", 0)])))
    rect = next(svg.iter(f"{SVG}rect"))
    assert float(rect.get("x")) == LABEL_WIDTH
    assert float(rect.get("width")) == 0
    assert re.fullmatch(r"0 0 \d+ \d+", svg.get("viewBox"))
