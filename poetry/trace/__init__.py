"""
Making the reactor visible: a trace of every client callback, and a timeline
picture of concurrent downloads.

A L{Tracer} records each factory, protocol and timeout callback of a download
as a L{TraceEvent} and, as it happens, emits it as one structured
C{twisted.logger} event (namespace C{"poetry.trace"}).  L{trace_observer}
writes those events, one line each, to a stream: C{get-poetry --trace}.

L{timeline_from_events} turns recorded events into one L{TaskRow} per
download; L{render_timeline_text} draws the rows for a terminal
(C{--timeline}) and L{render_timeline_svg} as a standalone SVG picture
(C{--timeline-svg FILE}).  Both renderers are plain functions of the rows, so
a chart can be drawn from any list of events, recorded live or made by hand.

One module per part, each depending only on the ones before it:

  - L{poetry.trace.events}: L{TraceEvent}, its trace line, L{trace_observer};
  - L{poetry.trace.timeline}: the row model, L{TaskRow} and
    L{timeline_from_events}, and the time axis both renderers share;
  - L{poetry.trace.tracer}: the L{Tracer};
  - L{poetry.trace.text}: L{render_timeline_text};
  - L{poetry.trace.svg}: L{render_timeline_svg}, built with
    C{xml.etree.ElementTree}.
"""

from poetry.trace.events import (
    MAX_VALUE_LENGTH,
    SOURCES,
    TRACE_FORMAT,
    TRACE_NAMESPACE,
    TraceEvent,
    describe_value,
    format_trace_line,
    trace_observer,
)
from poetry.trace.svg import render_timeline_svg
from poetry.trace.text import MIN_CHART_WIDTH, render_timeline_text
from poetry.trace.timeline import OUTCOMES, TaskRow, timeline_from_events
from poetry.trace.tracer import Tracer

__all__ = [
    "MAX_VALUE_LENGTH",
    "MIN_CHART_WIDTH",
    "OUTCOMES",
    "SOURCES",
    "TRACE_FORMAT",
    "TRACE_NAMESPACE",
    "TaskRow",
    "TraceEvent",
    "Tracer",
    "describe_value",
    "format_trace_line",
    "render_timeline_svg",
    "render_timeline_text",
    "timeline_from_events",
    "trace_observer",
]
