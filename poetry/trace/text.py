"""
The text timeline: L{render_timeline_text} draws timeline rows for a
terminal (C{get-poetry --timeline}), one line per download, in box-drawing
characters on a UTF-8 stream and plain ASCII elsewhere.
"""

from __future__ import annotations

import codecs
import math
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, Any

from poetry.trace.timeline import TaskRow, axis_ticks, format_seconds, timeline_span

__all__ = ["MIN_CHART_WIDTH", "render_timeline_text"]


@dataclass(frozen=True, slots=True)
class _Glyphs:
    connecting: str
    connected: str
    waiting: str
    data: str
    ok: str
    failed: str
    timeout: str
    border: str
    axis: str
    tick: str
    left: str
    right: str
    ellipsis: str
    attempt: str

    def end(self, outcome: str) -> str | None:
        return {"ok": self.ok, "failed": self.failed, "timeout": self.timeout}.get(
            outcome
        )

    def legend(self, *, attempts: bool) -> list[str]:
        names = [
            f"{self.connecting} connecting",
            f"{self.connected} connected",
            f"{self.waiting} waiting",
            f"{self.data} bytes arrived",
            f"{self.ok} ok",
            f"{self.failed} failed",
            f"{self.timeout} timed out",
        ]
        # Named only when drawn: a chart without retries reads as before.
        return [*names, f"{self.attempt} new attempt"] if attempts else names


_ASCII = _Glyphs("-", "c", ".", "#", "*", "X", "T", "|", "-", "+", " ", " ", "~", "r")
_UNICODE = _Glyphs("┄", "├", "─", "█", "✓", "✗", "◔", "│", "─", "┬", "└", "┘", "…", "↻")

MIN_CHART_WIDTH = 10
"""The narrowest chart drawn, in columns, however narrow the terminal."""


def _is_utf8(stream: object) -> bool:
    encoding = getattr(stream, "encoding", None)
    if not isinstance(encoding, str):
        return False
    try:
        return codecs.lookup(encoding).name.startswith("utf-8")
    except LookupError:
        return False


def _terminal_width(stream: object) -> int:
    columns = shutil.get_terminal_size((0, 0)).columns
    if columns > 0:
        return columns
    try:
        fileno = stream.fileno  # type: ignore[attr-defined]
        return os.get_terminal_size(fileno()).columns or 80
    except (AttributeError, OSError, ValueError):
        return 80


def _cut(text: str, width: int, ellipsis: str) -> str:
    return text if len(text) <= width else text[: width - 1] + ellipsis


def _wrap(
    prefix: str, items: Sequence[str], width: int, separator: str = "  "
) -> list[str]:
    """
    C{items} after C{prefix}, joined by C{separator}, in lines of at most
    C{width} (unless one item is longer), continuation lines indented.
    """
    lines: list[str] = []
    line = prefix + items[0]
    for item in items[1:]:
        if len(line) + len(separator) + len(item) > width:
            lines.append(line)
            line = " " * len(prefix) + item
        else:
            line += separator + item
    lines.append(line)
    return lines


def _chart_cells(
    row: TaskRow, chart_width: int, column: Callable[[float], int], glyphs: _Glyphs
) -> str:
    """
    The chart of one row, C{chart_width} cells: connecting, then waiting once
    connected, the connection mark, a mark per arrival and per new attempt
    (the next address, or a retry), the end mark last
    (so it wins over the others in its column).
    """
    cells = [" "] * chart_width
    first, last = column(row.start), column(row.last)
    connected = last + 1 if row.connected is None else column(row.connected)
    for index in range(first, last + 1):
        cells[index] = glyphs.connecting if index < connected else glyphs.waiting
    if row.connected is not None:
        cells[connected] = glyphs.connected
    for time, _ in row.arrivals:
        cells[column(time)] = glyphs.data
    for time in row.attempts:
        cells[column(time)] = glyphs.attempt
    mark = glyphs.end(row.outcome)
    if row.end is not None and mark is not None:
        cells[column(row.end)] = mark
    return "".join(cells)


def _axis_lines(
    span: float,
    chart_width: int,
    label_width: int,
    column: Callable[[float], int],
    glyphs: _Glyphs,
) -> tuple[str, str]:
    """
    The time axis under the chart, its ticks, and the line of their labels
    (a label that would overlap the one before it is left out), neither
    indented.
    """
    _, times = axis_ticks(span, chart_width - 1, 8)
    axis = [glyphs.axis] * chart_width
    labels = [" "] * label_width
    free = 0
    for time in times:
        index = column(time)
        axis[index] = glyphs.tick
        text = format_seconds(time)
        if index >= free and index + len(text) <= len(labels):
            labels[index : index + len(text)] = text
            free = index + len(text) + 1
    return f"{glyphs.left}{''.join(axis)}{glyphs.right}", f" {''.join(labels)}"


def render_timeline_text(
    rows: Sequence[TaskRow],
    *,
    width: int | None = None,
    unicode: bool | None = None,
    stream: IO[Any] | None = None,
) -> str:
    """
    Draw C{rows} for a terminal: one line per task, time running left to
    right from 0 to the last event, marking when the task was connecting,
    connected, received bytes, and finished, failed or timed out; then a time
    axis in seconds and a legend.  Several marks in one column: the end wins
    over bytes, bytes over the connection mark.

    @param width: the width in columns; by default the terminal's
        (C{shutil.get_terminal_size}, then C{stream}'s terminal, else 80).
    @param unicode: draw with box-drawing characters; by default only if
        C{stream}'s encoding is UTF-8, else plain ASCII.
    @param stream: where the chart will be written, to guess C{width} and
        C{unicode}; by default L{sys.stderr}.
    @return: the chart, lines ending in a newline.
    """
    if stream is None:
        stream = sys.stderr
    if width is None:
        width = _terminal_width(stream)
    glyphs = _UNICODE if (_is_utf8(stream) if unicode is None else unicode) else _ASCII
    if not rows:
        return "timeline: no downloads\n"

    lefts = [
        f"task {row.task}" + (f" {row.label}" if row.label else "") for row in rows
    ]
    shortest = max(len(f"task {row.task}") for row in rows)
    left_width = min(max(map(len, lefts)), max(shortest, width // 3))
    outcome_width = max(len(row.outcome) for row in rows)
    size_width = max(len(str(row.received)) for row in rows)
    rights = [
        f"{row.outcome:<{outcome_width}} {row.received:>{size_width}} B" for row in rows
    ]
    right_width = outcome_width + size_width + 3
    chart_width = max(MIN_CHART_WIDTH, width - left_width - right_width - 4)

    span = timeline_span(rows)
    scale = (chart_width - 1) / span if span > 0 else 0.0

    def column(time: float) -> int:
        return min(chart_width - 1, max(0, math.floor(time * scale + 0.5)))

    per_column = f"{span / (chart_width - 1):.3g}s" if span > 0 else "0s"
    tasks = f"{len(rows)} task" + ("s" if len(rows) != 1 else "")
    lines = _wrap(
        "timeline: ",
        [f"{tasks} in {span:.3f}s,", f"one column = {per_column}"],
        width,
        " ",
    )
    for row, left, right in zip(rows, lefts, rights, strict=True):
        name = _cut(left, left_width, glyphs.ellipsis)
        chart = _chart_cells(row, chart_width, column, glyphs)
        lines.append(
            f"{name:<{left_width}} {glyphs.border}{chart}{glyphs.border} {right}"
        )
    indent = " " * (left_width + 1)
    axis, labels = _axis_lines(
        span, chart_width, chart_width + right_width + 1, column, glyphs
    )
    lines.append(f"{indent}{axis}".rstrip())
    lines.append(f"{indent}{labels}".rstrip())
    legend = glyphs.legend(attempts=any(row.attempts for row in rows))
    lines.extend(_wrap("legend: ", legend, width))
    return "".join(line + "\n" for line in lines)
