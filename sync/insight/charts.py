"""The report's charts, drawn server-side as SVG with pygal.

Why pygal: SVG is its native output (not a backend of a raster library), it is pure Python with no compiled
dependency (matplotlib would bring numpy, pillow, fonttools and kiwisolver into a daemon image that needs
none of them) and imports in tens of milliseconds; it has stacked bars, box plots and bars with confidence
intervals, and takes extra SVG definitions, which is how each series gets a pattern as well as a colour.

Readable without colour: the palette is Okabe & Ito's (distinguishable with the common colour-vision
deficiencies), every series after the first also carries a pattern (lines, dots, hatching) in the bars and
in the legend, and each chart has a table of its numbers beside it. Every `<script>` pygal embeds is
removed: the page must work as a mail attachment, where scripts are stripped or blocked anyway.

This module imports pygal at import time: only the report command and the daemon's `/report` import it.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pygal
from pygal.style import Style

# Okabe & Ito (2008), "Color Universal Design": safe for protanopia, deuteranopia and tritanopia
OKABE_ITO = {"orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73", "yellow": "#F0E442", "blue": "#0072B2",
             "vermillion": "#D55E00", "purple": "#CC79A7", "black": "#000000"}
STAGE_COLOURS = {"lead": OKABE_ITO["sky"], "prospect": OKABE_ITO["orange"], "client": OKABE_ITO["green"],
                 "nurture": OKABE_ITO["purple"], "disqualified": OKABE_ITO["vermillion"]}
SLA_COLOURS = {"met": OKABE_ITO["green"], "late": OKABE_ITO["orange"], "breached": OKABE_ITO["vermillion"],
               "running": OKABE_ITO["sky"]}
SERIES_COLOURS = (OKABE_ITO["blue"], OKABE_ITO["orange"], OKABE_ITO["green"], OKABE_ITO["purple"],
                  OKABE_ITO["sky"], OKABE_ITO["vermillion"], OKABE_ITO["yellow"], OKABE_ITO["black"])

# drawn over the series colour, on an 8x8 tile; index 0 is plain
_PATTERNS = (
    "",
    '<path d="M-2,2 l4,-4 M0,8 l8,-8 M6,10 l4,-4" stroke="#000" stroke-opacity=".55" stroke-width="1.4"/>',
    '<circle cx="4" cy="4" r="1.6" fill="#000" fill-opacity=".55"/>',
    '<path d="M0,0 L8,8 M8,0 L0,8" stroke="#000" stroke-opacity=".5" stroke-width="1.1"/>',
    '<path d="M0,4 h8" stroke="#000" stroke-opacity=".55" stroke-width="1.6"/>',
    '<path d="M-2,6 l4,4 M0,0 l8,8 M6,-2 l4,4" stroke="#fff" stroke-opacity=".8" stroke-width="1.6"/>',
    '<path d="M4,0 v8" stroke="#000" stroke-opacity=".55" stroke-width="1.6"/>',
    '<rect x="2" y="2" width="4" height="4" fill="#fff" fill-opacity=".7"/>',
)
_FONT = "'DejaVu Sans', 'Liberation Sans', Arial, Helvetica, sans-serif"
_SCRIPT = re.compile(r"<script\b.*?</script>", re.S)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_CHART_ID = re.compile(r'id="chart-([0-9a-f-]{36})"')


def _style(colours: Sequence[str]) -> Style:
    return Style(colors=tuple(colours), background="white", plot_background="white", foreground="#222",
                 foreground_strong="#000", foreground_subtle="#555", opacity="1", opacity_hover="1",
                 transition="0s", font_family=_FONT, label_font_size=12, major_label_font_size=12,
                 legend_font_size=13, value_font_size=12, title_font_size=15, tooltip_font_size=12,
                 value_colors=("#000",), guide_stroke_color="#bbb", major_guide_stroke_color="#888")


def _patterned(name: str, colours: Sequence[str]) -> tuple[list[str], list[str], str]:
    """SVG pattern definitions, the CSS that fills series i (bars and legend box) with pattern i, and the
    class that scopes that CSS to this chart."""
    scope = f"crmsync-{_UNSAFE.sub('-', name)}"  # unique per page; ids and classes from account names: ASCII only
    defs, css = [], []
    for index, colour in enumerate(colours):
        overlay = _PATTERNS[index % len(_PATTERNS)]
        if not overlay:
            continue
        pid = f"{scope}-p{index}"
        defs.append(f'<pattern id="{pid}" patternUnits="userSpaceOnUse" width="8" height="8">'
                    f'<rect width="8" height="8" fill="{colour}"/>{overlay}</pattern>')
        css.append(f".{scope} .color-{index} .reactive, .{scope} .legend .color-{index}"
                   f"{{fill:url(#{pid}) !important;stroke:#333 !important;stroke-width:.6px}}")
    return defs, css, scope


def _chart(kind: Any, name: str, colours: Sequence[str], **options: Any) -> Any:
    defs, css, scope = _patterned(name, colours)
    config = {"js": [], "style": _style(colours), "defs": defs, "classes": ["pygal-chart", scope],
              "css": ["file://style.css", "file://graph.css", *(f"inline:{rule}" for rule in css)],
              "disable_xml_declaration": True, "legend_at_bottom": True, "legend_box_size": 14,
              "print_zeroes": False, "margin": 12, "width": 760, "height": 340, "truncate_legend": 40,
              "truncate_label": 28, "tooltip_fancy_mode": False}
    config.update(options)
    return kind(**config)


def _svg(chart: Any, description: str) -> str:
    """The chart's SVG without scripts or comments, titled for screen readers, with the random id pygal
    gives each chart replaced by its name: the same data draws the same page."""
    text = chart.render(is_unicode=True)
    text = _COMMENT.sub("", _SCRIPT.sub("", text))
    scope = next(c for c in chart.config.classes if c.startswith("crmsync-"))
    random_id = _CHART_ID.search(text)
    if random_id is not None:
        text = text.replace(random_id.group(1), scope)
    label = html.escape(description, quote=True)
    text = text.replace("<title>Pygal</title>", f"<title>{label}</title>", 1)
    return text.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1)


def grouped_bars(name: str, description: str, labels: Sequence[str], series: Mapping[str, Sequence[float]],
                 colours: Sequence[str] | None = None, **options: Any) -> str:
    """Bars grouped by label, one bar per series, values printed on the bars."""
    colours = list(colours or SERIES_COLOURS[:len(series)])
    chart = _chart(pygal.Bar, name, colours, print_values=True, print_values_position="top", **options)
    chart.x_labels = list(labels)
    for title, values in series.items():
        chart.add(title, list(values))
    return _svg(chart, description)


def stacked_bars(name: str, description: str, labels: Sequence[str], series: Mapping[str, Sequence[float]],
                 colours: Sequence[str], *, print_values: bool = False, **options: Any) -> str:
    chart = _chart(pygal.StackedBar, name, colours, print_values=print_values, x_label_rotation=-35 if
                   len(labels) > 8 else 0, **options)
    chart.x_labels = list(labels)
    for title, values in series.items():
        chart.add(title, list(values))
    return _svg(chart, description)


def horizontal_bars(name: str, description: str, labels: Sequence[str], series: Mapping[str, Sequence[Any]],
                    colours: Sequence[str] | None = None, **options: Any) -> str:
    """Horizontal bars (long labels: owners, rules); values may carry a confidence interval
    (`{"value": v, "ci": {"low": a, "high": b}}`)."""
    colours = list(colours or SERIES_COLOURS[:len(series)])
    height = max(220, 70 + 26 * len(labels) * max(1, len(series)))
    top = max([_plain(v) for values in series.values() for v in values] or [0.0])
    chart = _chart(pygal.HorizontalBar, name, colours, height=options.pop("height", height),
                   print_values=options.pop("print_values", True), y_labels=nice_ticks(top), **options)
    chart.x_labels = list(reversed(labels))  # pygal stacks labels bottom-up: the first row goes on top
    for title, values in series.items():
        chart.add(title, list(reversed(values)))
    return _svg(chart, description)


def _plain(value: Any) -> float:
    if isinstance(value, dict):
        return float(max(value.get("value") or 0, (value.get("ci") or {}).get("high") or 0))
    return float(value or 0)


def nice_ticks(top: float, count: int = 6) -> list[float]:
    """About `count` round axis ticks from 0 to at least `top` (steps of 1, 2, 2.5 or 5 times a power of 10)."""
    if top <= 0:
        return [0, 1]
    raw = top / (count - 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    ticks = [0.0]
    while ticks[-1] < top:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def boxes(name: str, description: str, groups: Mapping[str, Sequence[float]], colours: Sequence[str],
          **options: Any) -> str:
    """One box per group: quartiles, whiskers at 1.5 times the interquartile range (Tukey)."""
    chart = _chart(pygal.Box, name, colours, box_mode="1.5IQR", **options)
    for title, values in groups.items():
        chart.add(title, list(values))
    return _svg(chart, description)


__all__ = ["OKABE_ITO", "SERIES_COLOURS", "SLA_COLOURS", "STAGE_COLOURS", "boxes", "grouped_bars",
           "horizontal_bars", "stacked_bars"]
