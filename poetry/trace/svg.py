"""
The SVG timeline: L{render_timeline_svg} draws timeline rows as a standalone
SVG picture (C{get-poetry --timeline-svg FILE}).

The picture is built as an C{xml.etree.ElementTree} tree and serialised by
the library, which escapes every label, title and attribute: no markup is
written by hand.

The tags are plain names (C{svg}, C{g}, C{rect}), and the root's C{xmlns}
attribute puts them in the SVG namespace, as a parser reads the document.
ElementTree's own way to write a default namespace,
C{tostring(default_namespace=...)}, refuses attributes without a namespace,
which SVG's are, and C{register_namespace} would change a process-wide table.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from poetry.trace.timeline import TaskRow, axis_ticks, format_seconds, timeline_span

__all__ = ["SVG_NAMESPACE", "render_timeline_svg"]

SVG_NAMESPACE = "http://www.w3.org/2000/svg"
"""The namespace of every element of the picture: the document's default."""

_COLOURS = {
    "ok": "#2e7d32",
    "failed": "#c62828",
    "timeout": "#ef6c00",
    "unfinished": "#757575",
}
_GREY = "#9e9e9e"
_INK = "#424242"

_ROW_HEIGHT = 26
_BAR_HEIGHT = 12
_CHAR_WIDTH = 7
_TOP = 44

# Characters XML 1.0 cannot hold at all, escaped or not (NUL, most C0
# controls, lone surrogates, U+FFFE/U+FFFF): ElementTree would write them
# as they are, making a document no parser accepts.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(text: str) -> str:
    """C{text} with each character XML cannot hold replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


def _number(number: float) -> str:
    """A coordinate to a tenth of a pixel, without a useless C{.0}."""
    return f"{number:.1f}".removesuffix(".0")


def _add(
    parent: Element | None, tag: str, text: str | None = None, /, **attributes: object
) -> Element:
    """
    A new SVG element C{tag}, appended to C{parent} if there is one.

    @param text: the element's text content, if any.
    @param attributes: its attributes, in order; a Python name stands for
        the SVG one (C{stroke_width} for C{stroke-width}, C{class_} for
        C{class}); a number is written with L{_number}, anything else with
        C{str}.
    """
    attrib = {
        name.rstrip("_").replace("_", "-"): (
            _number(value) if isinstance(value, int | float) else _text(str(value))
        )
        for name, value in attributes.items()
    }
    if parent is None:
        element = Element(tag, attrib)
    else:
        element = ElementTree.SubElement(parent, tag, attrib)
    if text is not None:
        element.text = _text(text)
    return element


def _mark(parent: Element, outcome: str, x: float, y: float, colour: str) -> None:
    """The shape ending a task: a dot for ok, a cross for failed, a square
    for a timeout (so the outcome shows without colour too); none for an
    unfinished task."""
    if outcome == "ok":
        _add(parent, "circle", cx=x, cy=y, r=5, fill=colour)
    elif outcome == "failed":
        a = 4.5
        left, right, up, down = map(_number, (x - a, x + a, y - a, y + a))
        path = f"M{left} {up}L{right} {down}M{left} {down}L{right} {up}"
        _add(parent, "path", d=path, stroke=colour, stroke_width=2.5)
    elif outcome == "timeout":
        _add(parent, "rect", x=x - 4.5, y=y - 4.5, width=9, height=9, fill=colour)


def _dashes(parent: Element, x1: float, x2: float, y: float) -> None:
    """The dashed line drawn while a task is connecting."""
    _add(
        parent,
        "line",
        x1=x1,
        y1=y,
        x2=x2,
        y2=y,
        stroke=_GREY,
        stroke_width=2,
        stroke_dasharray="4 3",
    )


def _bar(parent: Element, x: float, y: float, width: float, **paint: object) -> None:
    """A bar of the row height centred on C{y}: a connection or a tick."""
    _add(
        parent,
        "rect",
        x=x,
        y=y - _BAR_HEIGHT / 2,
        width=width,
        height=_BAR_HEIGHT,
        **paint,
    )


@dataclass(frozen=True, slots=True)
class _Chart:
    """
    Where the chart is: the time axis runs from C{x0} (time 0) to C{x1}
    (the span's end), in pixels.
    """

    x0: int
    x1: int
    span: float

    def x(self, time: float) -> float:
        """The horizontal position of C{time}."""
        scale = (self.x1 - self.x0) / self.span if self.span > 0 else 0.0
        return self.x0 + time * scale


def _task(
    parent: Element, chart: _Chart, row: TaskRow, y: float, label: str, summary: str
) -> None:
    """
    One task's group: a tooltip, its label left of the chart, its dashes
    while connecting, its bar while connected, a tick per pixel column that
    bytes arrived in, a C{↻} above each new attempt (the next address, or
    a retry), its end mark, and its outcome and size on the right.
    """
    colour = _COLOURS.get(row.outcome, _COLOURS["unfinished"])
    connected = row.last if row.connected is None else row.connected
    group = _add(
        parent, "g", class_="task", data_task=row.task, data_outcome=row.outcome
    )
    _add(group, "title", f"{label}: {summary}")
    _add(group, "text", label, x=chart.x0 - 10, y=y + 4, text_anchor="end")
    if connected > row.start:
        _dashes(group, chart.x(row.start), chart.x(connected), y)
    if row.connected is not None:
        width = max(chart.x(row.last) - chart.x(connected), 1)
        _bar(group, chart.x(connected), y, width, fill=colour, fill_opacity="0.25")
    # One tick per pixel column: a fast download may have thousands.
    for pixel in sorted({round(chart.x(time)) for time, _ in row.arrivals}):
        _bar(group, pixel - 1, y, 2, fill=colour)
    for time in row.attempts:
        _add(group, "text", "↻", x=chart.x(time), y=y - 7, text_anchor="middle",
             class_="attempt")  # fmt: skip
    if row.end is not None:
        _mark(group, row.outcome, chart.x(row.end), y, colour)
    _add(group, "text", summary, x=chart.x1 + 12, y=y + 4, fill=colour)


def _axis(parent: Element, chart: _Chart, y: int) -> None:
    """The time axis at height C{y}: a line, ticks labelled in seconds, and
    its title."""
    group = _add(parent, "g", class_="axis", stroke=_INK)
    _add(group, "line", x1=chart.x0, y1=y, x2=chart.x1, y2=y)
    _, times = axis_ticks(chart.span, chart.x1 - chart.x0, 70)
    for time in times:
        tx = chart.x(time)
        _add(group, "line", x1=tx, y1=y, x2=tx, y2=y + 5)
        _add(
            group,
            "text",
            format_seconds(time),
            x=tx,
            y=y + 18,
            text_anchor="middle",
            stroke="none",
            fill=_INK,
        )
    _add(
        group,
        "text",
        "seconds since start",
        x=chart.x1,
        y=y + 34,
        text_anchor="end",
        stroke="none",
        fill=_INK,
    )


def _legend(parent: Element, x: int, y: int) -> None:
    """The legend at C{(x, y)}: each end mark, the connecting dashes, the
    connected bar and an arrival tick, each named."""
    group = _add(parent, "g", class_="legend")
    for outcome in ("ok", "failed", "timeout"):
        _mark(group, outcome, x + 5, y, _COLOURS[outcome])
        _add(group, "text", outcome, x=x + 16, y=y + 4)
        x += 90
    _dashes(group, x, x + 24, y)
    _add(group, "text", "connecting", x=x + 30, y=y + 4)
    x += 110
    _bar(group, x, y, 24, fill=_INK, fill_opacity="0.25")
    _add(group, "text", "connected", x=x + 30, y=y + 4)
    x += 105
    _bar(group, x, y, 2, fill=_INK)
    _add(group, "text", "bytes arrived", x=x + 8, y=y + 4)


def _picture(rows: Sequence[TaskRow], width: int, title: str) -> Element:
    """The root C{<svg>} element of L{render_timeline_svg}'s document."""
    labels = [
        f"task {row.task}" + (f"  {row.label}" if row.label else "") for row in rows
    ]
    summaries = [f"{row.outcome}, {row.received} B" for row in rows]
    longest = max(map(len, labels), default=0)
    left = min(max(90, 16 + _CHAR_WIDTH * longest), width // 3)
    right = 40 + _CHAR_WIDTH * max(map(len, summaries), default=0)
    chart = _Chart(left, max(left + 100, width - right), timeline_span(rows))
    axis_y = _TOP + _ROW_HEIGHT * len(rows) + 6
    legend_y = axis_y + 52
    height = legend_y + 24

    root = _add(
        None,
        "svg",
        xmlns=SVG_NAMESPACE,
        width=width,
        height=height,
        viewBox=f"0 0 {width} {height}",
        font_family="sans-serif",
        font_size=12,
    )
    _add(root, "title", title)
    _add(root, "rect", width="100%", height="100%", fill="white")
    tasks = f"{len(rows)} task{'s' if len(rows) != 1 else ''}"
    heading = f"{title}: {tasks} in {chart.span:.3f}s"
    _add(root, "text", heading, x=chart.x0, y=24, font_size=14, font_weight="bold")
    for index, (row, label, summary) in enumerate(
        zip(rows, labels, summaries, strict=True)
    ):
        y = _TOP + _ROW_HEIGHT * index + _ROW_HEIGHT / 2
        _task(root, chart, row, y, label, summary)
    _axis(root, chart, axis_y)
    _legend(root, chart.x0, legend_y)
    return root


def render_timeline_svg(
    rows: Sequence[TaskRow], *, width: int = 800, title: str = "poetry downloads"
) -> str:
    """
    Draw C{rows} as a standalone SVG document: one C{<g class="task">} per
    task (its label, a dashed line while connecting, a bar while connected,
    a tick per C{dataReceived}, an end mark coloured and shaped by outcome),
    a time axis in seconds, and a legend (ok, failed, timeout, connecting,
    connected, bytes arrived).  Labels and the title are text, escaped by
    the XML library; a character XML cannot hold shows as U+FFFD.  Write it
    to a file as UTF-8.

    @param width: the picture's width in pixels.
    @param title: the heading above the chart.
    """
    root = _picture(rows, width, title)
    ElementTree.indent(root)
    return ElementTree.tostring(root, encoding="unicode") + "\n"
