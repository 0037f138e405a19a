"""
Tests for L{poetry.trace}: the L{Tracer}, its log events and trace lines, and
the text and SVG timelines drawn from known, hand-made events.
"""

from __future__ import annotations

import io
import os
import shutil
import xml.etree.ElementTree as ElementTree
from dataclasses import replace
from typing import Any, cast

from twisted.internet.address import (
    HostnameAddress,
    IPv4Address,
    IPv6Address,
    UNIXAddress,
)
from twisted.internet.error import ConnectionAborted, ConnectionDone, ConnectionLost
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import (
    ILogObserver,
    LogEvent,
    Logger,
    LogLevel,
    LogPublisher,
    capturedLogs,
    formatEvent,
)
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from poetry.addresses import format_address
from poetry.library import PoemFile, PoemLibrary
from poetry.server import (
    LIFECYCLE_NAMESPACE,
    ConnectionOutcome,
    PoetryServerFactory,
    PoetryServerProtocol,
)
from poetry.service import Options, makeService
from poetry.trace import (
    MAX_VALUE_LENGTH,
    TRACE_NAMESPACE,
    TaskRow,
    TraceEvent,
    Tracer,
    describe_value,
    format_trace_line,
    render_timeline_svg,
    render_timeline_text,
    timeline_from_events,
    trace_observer,
)

SVG = "{http://www.w3.org/2000/svg}"


def event(
    time: float, task: int, source: str, name: str, **detail: object
) -> TraceEvent:
    """A hand-made L{TraceEvent}, details in the order given."""
    return TraceEvent(time, task, source, name, tuple(detail.items()))


# Three downloads on a 2 second timeline: task 1 is complete at 1.0s, task 2
# times out at 2.0s, task 3 is refused at 0.8s.
KNOWN_EVENTS = [
    event(0.0, 1, "factory", "doStart"),
    event(0.0, 1, "factory", "startedConnecting", destination="h:1"),
    event(0.0, 2, "factory", "startedConnecting", destination="h:2"),
    event(0.0, 2, "timeout", "scheduled", seconds=2.0),
    event(0.1, 1, "factory", "buildProtocol", address="h:1"),
    event(0.1, 1, "protocol", "makeConnection"),
    event(0.1, 1, "protocol", "connectionMade", peer="h:1", host="me:5"),
    event(0.2, 2, "protocol", "connectionMade", peer="h:2", host="me:6"),
    event(0.4, 2, "protocol", "dataReceived", bytes=3),
    event(0.5, 1, "protocol", "dataReceived", bytes=5),
    event(0.5, 3, "factory", "startedConnecting", destination="h:3"),
    event(0.8, 3, "factory", "clientConnectionFailed", reason="refused"),
    event(0.8, 3, "factory", "doStop"),
    event(1.0, 1, "protocol", "dataReceived", bytes=7),
    event(1.0, 1, "protocol", "connectionLost", clean=True),
    event(1.0, 1, "factory", "clientConnectionLost", reason="done"),
    event(2.0, 2, "timeout", "fired"),
    event(2.0, 2, "protocol", "connectionLost", clean=False),
]

KNOWN_ROWS = [
    TaskRow(1, "h:1", 0.0, 0.1, ((0.5, 5), (1.0, 7)), 1.0, "ok"),
    TaskRow(2, "h:2", 0.0, 0.2, ((0.4, 3),), 2.0, "timeout"),
    TaskRow(3, "h:3", 0.5, None, (), 0.8, "failed"),
]


class TracerTests(SynchronousTestCase):
    """
    L{Tracer} records events in call order with times from its clock, and
    emits one structured log event per record.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.logged: list[LogEvent] = []
        self.tracer = Tracer(
            clock=self.clock,
            log=Logger(observer=cast(ILogObserver, self.logged.append)),
        )

    def test_recordsInOrderWithClockTimes(self) -> None:
        """
        Each record appends a L{TraceEvent} whose time is the clock's, counted
        from the tracer's construction, and whose details are kept as given.
        """
        self.tracer.record(1, "factory", "doStart")
        self.clock.advance(0.25)
        self.tracer.record(2, "factory", "startedConnecting", destination="h:2")
        self.clock.advance(0.5)
        self.tracer.record(1, "protocol", "dataReceived", bytes=12)
        self.assertEqual(
            self.tracer.events,
            [
                TraceEvent(0.0, 1, "factory", "doStart", ()),
                TraceEvent(
                    0.25, 2, "factory", "startedConnecting", (("destination", "h:2"),)
                ),
                TraceEvent(0.75, 1, "protocol", "dataReceived", (("bytes", 12),)),
            ],
        )

    def test_timesCountFromConstruction(self) -> None:
        """
        The start time is C{clock.seconds()} when the tracer is made, not 0.
        """
        clock = Clock()
        clock.advance(100.0)
        tracer = Tracer(clock=clock, emit=False)
        clock.advance(1.5)
        tracer.record(1, "timeout", "fired")
        self.assertEqual(tracer.start, 100.0)
        self.assertEqual(tracer.events[0].time, 1.5)

    def test_detailGet(self) -> None:
        """
        L{TraceEvent.get} finds a detail by key, or gives the default.
        """
        traced = event(0, 1, "protocol", "connectionLost", reason="r", clean=True)
        self.assertEqual(traced.get("clean"), True)
        self.assertEqual(traced.get("reason"), "r")
        self.assertIsNone(traced.get("bytes"))
        self.assertEqual(traced.get("bytes", 0), 0)

    def test_unknownSourceRejected(self) -> None:
        """
        A source other than factory, protocol or timeout is a programming
        error, and records nothing.
        """
        self.assertRaises(ValueError, self.tracer.record, 1, "reactor", "run")
        self.assertEqual(self.tracer.events, [])
        self.assertEqual(self.logged, [])

    def test_emitsOneLogEventPerRecordAtOnce(self) -> None:
        """
        Every record emits exactly one log event before returning, carrying
        the event's fields, and formatting to the trace line.
        """
        self.tracer.record(1, "factory", "doStart")
        self.assertEqual(len(self.logged), 1)
        self.clock.advance(0.003)
        self.tracer.record(
            2,
            "factory",
            "startedConnecting",
            destination=IPv4Address("TCP", "127.0.0.1", 10001),
        )
        self.assertEqual(len(self.logged), 2)
        logged = self.logged[1]
        self.assertIs(logged["trace_event"], self.tracer.events[1])
        self.assertEqual(logged["trace_task"], 2)
        self.assertEqual(logged["trace_source"], "factory")
        self.assertEqual(logged["trace_name"], "startedConnecting")
        self.assertEqual(logged["trace_time"], self.tracer.events[1].time)
        self.assertEqual(logged["log_level"], LogLevel.debug)
        self.assertEqual(
            formatEvent(logged),
            "+0.003s task 2 factory.startedConnecting destination=127.0.0.1:10001",
        )

    def test_formattedOnlyWhenAsked(self) -> None:
        """
        Recording does not render the details: the logging system does, only
        when an observer formats the event.
        """

        class Counted:
            calls = 0

            def __str__(self) -> str:
                Counted.calls += 1
                return "v"

        self.tracer.record(1, "protocol", "dataReceived", thing=Counted())
        self.assertEqual(Counted.calls, 0)
        self.assertEqual(
            formatEvent(self.logged[0]), "+0.000s task 1 protocol.dataReceived thing=v"
        )
        self.assertEqual(Counted.calls, 1)

    def test_defaultLoggerIsGlobalInTraceNamespace(self) -> None:
        """
        Without a logger, events go to the global log publisher in the
        C{poetry.trace} namespace.
        """
        tracer = Tracer(clock=self.clock)
        with capturedLogs() as captured:
            tracer.record(1, "factory", "doStop")
        traced = [e for e in captured if "trace_event" in e]
        self.assertEqual(len(traced), 1)
        self.assertEqual(traced[0]["log_namespace"], TRACE_NAMESPACE)
        self.assertEqual(TRACE_NAMESPACE, "poetry.trace")

    def test_noEmit(self) -> None:
        """
        With C{emit=False} events are recorded but nothing is logged.
        """
        tracer = Tracer(
            clock=self.clock,
            log=Logger(observer=cast(ILogObserver, self.logged.append)),
            emit=False,
        )
        tracer.record(1, "factory", "doStart")
        self.assertEqual(len(tracer.events), 1)
        self.assertEqual(self.logged, [])

    def test_timeline(self) -> None:
        """
        L{Tracer.timeline} draws rows from the events recorded so far.
        """
        self.tracer.record(1, "factory", "startedConnecting", destination="h:1")
        self.clock.advance(1)
        self.tracer.record(1, "factory", "clientConnectionFailed", reason="refused")
        self.assertEqual(
            self.tracer.timeline(), timeline_from_events(self.tracer.events)
        )
        self.assertEqual(self.tracer.timeline()[0].outcome, "failed")
        self.assertEqual(self.tracer.timeline({1: "timeout"})[0].outcome, "timeout")


class TraceLineTests(SynchronousTestCase):
    """
    Trace lines: one line per event, details as readable C{key=value} pairs.
    """

    def test_addressesAndReasons(self) -> None:
        """
        Addresses show as host:port ([host]:port for IPv6), failures as their
        class and message (quoted, since they hold spaces), numbers plainly.
        """
        line = format_trace_line(
            event(
                1.25,
                3,
                "protocol",
                "connectionMade",
                peer=IPv4Address("TCP", "127.0.0.1", 10001),
                host=IPv6Address("TCP", "::1", 5000),
            )
        )
        self.assertEqual(
            line,
            "+1.250s task 3 protocol.connectionMade"
            " peer=127.0.0.1:10001 host=[::1]:5000",
        )
        line = format_trace_line(
            event(
                0,
                1,
                "protocol",
                "connectionLost",
                reason=Failure(ConnectionDone()),
                clean=True,
            )
        )
        self.assertEqual(
            line,
            "+0.000s task 1 protocol.connectionLost"
            ' reason="ConnectionDone: Connection was closed cleanly." clean=True',
        )
        self.assertEqual(
            describe_value(ConnectionLost()),
            '"ConnectionLost: Connection to the other side was lost'
            ' in a non-clean fashion."',
        )
        self.assertEqual(describe_value(2.0), "2")
        self.assertEqual(describe_value(512), "512")

    def test_everyAddressKindAsLogsShowIt(self) -> None:
        """
        Any Twisted address reads as L{format_address} shows it in the
        server's logs: a C{HostnameAddress} as its name and port (an IPv6
        literal bracketed), a UNIX address as its path; a row's label reads
        the same.
        """
        hostname = HostnameAddress(b"poems.example.org", 10001)
        self.assertEqual(describe_value(hostname), "poems.example.org:10001")
        self.assertEqual(describe_value(HostnameAddress(b"::1", 5)), "[::1]:5")
        self.assertEqual(describe_value(UNIXAddress("/run/p.sock")), "/run/p.sock")
        for address in (hostname, IPv6Address("TCP", "::1", 10002)):
            self.assertEqual(describe_value(address), format_address(address))
            [row] = timeline_from_events(
                [event(0, 1, "factory", "startedConnecting", destination=address)]
            )
            self.assertEqual(row.label, format_address(address))

    def test_oneLineWhateverTheValue(self) -> None:
        """
        Values with newlines, quotes or C{=}, and empty values, are quoted so
        the line stays one line of pairs.
        """
        line = format_trace_line(
            event(0, 1, "protocol", "dataReceived", a="x\ny", b='"', c="k=v", d="")
        )
        self.assertNotIn("\n", line)
        self.assertEqual(
            line, '+0.000s task 1 protocol.dataReceived a="x\\ny" b="\\"" c="k=v" d=""'
        )

    def test_longValueCut(self) -> None:
        """
        A value longer than L{MAX_VALUE_LENGTH} is cut, marked with C{...}.
        """
        text = describe_value("x" * (MAX_VALUE_LENGTH * 5))
        self.assertEqual(len(text), MAX_VALUE_LENGTH)
        self.assertTrue(text.endswith("..."))


class TraceObserverTests(SynchronousTestCase):
    """
    L{trace_observer} writes trace events, and only them, one line each.
    """

    def test_writesOnlyTraceLines(self) -> None:
        """
        Trace events from any tracer reach the stream as their trace lines,
        in order; other log events do not.
        """
        stream = io.StringIO()
        publisher = LogPublisher(trace_observer(stream))
        clock = Clock()
        other = Logger(namespace="poetry.client", observer=publisher)
        tracer = Tracer(
            clock=clock, log=Logger(namespace=TRACE_NAMESPACE, observer=publisher)
        )
        tracer.record(1, "factory", "doStart")
        other.info("not a trace {n}", n=1)
        clock.advance(0.5)
        tracer.record(1, "protocol", "dataReceived", bytes=10)
        other.error("nor this")
        self.assertEqual(
            stream.getvalue(),
            "+0.000s task 1 factory.doStart\n"
            "+0.500s task 1 protocol.dataReceived bytes=10\n",
        )
        self.assertEqual(
            stream.getvalue().splitlines(),
            [format_trace_line(e) for e in tracer.events],
        )


class TimelineRowsTests(SynchronousTestCase):
    """
    L{timeline_from_events} makes one row per task from known events.
    """

    def test_knownRows(self) -> None:
        """
        Each task's label, start, connection, arrivals, end and outcome come
        from its events, rows in task order.
        """
        self.assertEqual(timeline_from_events(KNOWN_EVENTS), KNOWN_ROWS)
        self.assertEqual(KNOWN_ROWS[0].received, 12)

    def test_orderedByTaskAndTime(self) -> None:
        """
        Rows are in task order however the tasks' events interleave.
        """
        by_task_descending = sorted(KNOWN_EVENTS, key=lambda e: -e.task)
        self.assertEqual(timeline_from_events(by_task_descending), KNOWN_ROWS)

    def test_cleanFromReason(self) -> None:
        """
        Without a C{clean} detail, a L{ConnectionDone} reason is a complete
        download and any other reason a failure.
        """
        rows = timeline_from_events(
            [
                event(
                    0, 1, "protocol", "connectionLost", reason=Failure(ConnectionDone())
                ),
                event(
                    0, 2, "protocol", "connectionLost", reason=Failure(ConnectionLost())
                ),
                event(0, 3, "protocol", "connectionLost", reason=ConnectionDone()),
            ]
        )
        self.assertEqual([row.outcome for row in rows], ["ok", "failed", "ok"])

    def test_firstEndWins(self) -> None:
        """
        A timeout firing decides the outcome even though the aborted
        connection is then lost; a truncated connection is a failure.
        """
        rows = timeline_from_events(
            [
                event(1, 1, "timeout", "fired"),
                event(1.5, 1, "protocol", "connectionLost", clean=False),
                event(2, 2, "protocol", "connectionLost", clean=False),
                event(2.5, 2, "factory", "clientConnectionLost", reason="lost"),
            ]
        )
        self.assertEqual(
            [(row.outcome, row.end) for row in rows], [("timeout", 1), ("failed", 2)]
        )

    def test_unfinished(self) -> None:
        """
        A task with no ending event is unfinished, drawn to its last event.
        """
        [row] = timeline_from_events(
            [
                event(0, 1, "factory", "startedConnecting"),
                event(1, 1, "protocol", "connectionMade"),
                event(3, 1, "protocol", "dataReceived", bytes=b"abcd"),
            ]
        )
        self.assertEqual(
            (row.outcome, row.end, row.last, row.received), ("unfinished", None, 3, 4)
        )

    def test_outcomesOverride(self) -> None:
        """
        Outcomes the caller passes replace the inferred ones; an unknown
        outcome is an error.
        """
        rows = timeline_from_events(KNOWN_EVENTS, outcomes={1: "failed"})
        self.assertEqual([row.outcome for row in rows], ["failed", "timeout", "failed"])
        self.assertRaises(
            ValueError, timeline_from_events, KNOWN_EVENTS, outcomes={1: "meh"}
        )


KNOWN_ASCII = """\
timeline: 3 tasks in 2.000s, one column = 0.1s
task 1 h:1 |-c...#....*          | ok      12 B
task 2 h:2 |--c.#...............T| timeout  3 B
task 3 h:3 |     ---X            | failed   0 B
            +---------+---------+
            0s        1s        2s
legend: - connecting  c connected  . waiting
        # bytes arrived  * ok  X failed
        T timed out
"""

KNOWN_UNICODE = """\
timeline: 3 tasks in 2.000s, one column = 0.1s
task 1 h:1 │┄├───█────✓          │ ok      12 B
task 2 h:2 │┄┄├─█───────────────◔│ timeout  3 B
task 3 h:3 │     ┄┄┄✗            │ failed   0 B
           └┬─────────┬─────────┬┘
            0s        1s        2s
legend: ┄ connecting  ├ connected  ─ waiting
        █ bytes arrived  ✓ ok  ✗ failed
        ◔ timed out
"""


class TextTimelineTests(SynchronousTestCase):
    """
    L{render_timeline_text} draws rows on a terminal.
    """

    def test_knownASCII(self) -> None:
        """
        The known rows, at a width giving 0.1s per column, in plain ASCII:
        each mark is in the column of its time, and the end mark wins over
        bytes arriving in the same column.
        """
        self.assertEqual(
            render_timeline_text(KNOWN_ROWS, width=47, unicode=False), KNOWN_ASCII
        )

    def test_knownUnicode(self) -> None:
        """
        The same chart with box-drawing characters.
        """
        self.assertEqual(
            render_timeline_text(KNOWN_ROWS, width=47, unicode=True), KNOWN_UNICODE
        )

    def test_asciiUnlessUTF8(self) -> None:
        """
        By default the chart is plain ASCII unless the stream it is for is
        UTF-8.
        """
        for encoding in ("ascii", "latin-1", "cp1252"):
            stream = io.TextIOWrapper(io.BytesIO(), encoding=encoding)
            text = render_timeline_text(KNOWN_ROWS, width=47, stream=stream)
            self.assertEqual(text, KNOWN_ASCII, encoding)
        self.assertEqual(
            render_timeline_text(KNOWN_ROWS, width=47, stream=io.StringIO()),
            KNOWN_ASCII,
        )
        utf8 = io.TextIOWrapper(io.BytesIO(), encoding="UTF8")
        self.assertEqual(
            render_timeline_text(KNOWN_ROWS, width=47, stream=utf8), KNOWN_UNICODE
        )

    def test_widthAdapts(self) -> None:
        """
        Row lines fill the width exactly; a wider terminal gets a wider chart.
        """
        charts = []
        for width in (40, 60, 80, 120):
            lines = render_timeline_text(
                KNOWN_ROWS, width=width, unicode=False
            ).splitlines()
            self.assertTrue(all(len(line) <= width for line in lines), lines)
            row_lines = [line for line in lines if line.startswith("task ")]
            self.assertEqual([len(line) for line in row_lines], [width] * 3)
            charts.append(row_lines[0].index("| ok") - row_lines[0].index("|"))
        self.assertEqual(charts, sorted(set(charts)))

    def test_terminalWidth(self) -> None:
        """
        By default the width is the terminal's, or 80 when there is none.
        """
        self.patch(
            shutil,
            "get_terminal_size",
            lambda fallback=(80, 24): os.terminal_size((60, 24)),
        )
        lines = render_timeline_text(KNOWN_ROWS, unicode=False).splitlines()
        self.assertEqual(max(map(len, lines)), 60)
        self.patch(
            shutil,
            "get_terminal_size",
            lambda fallback=(80, 24): os.terminal_size(fallback),
        )
        lines = render_timeline_text(
            KNOWN_ROWS, unicode=False, stream=io.StringIO()
        ).splitlines()
        self.assertEqual(max(map(len, lines)), 80)

    def test_longLabelCut(self) -> None:
        """
        Labels longer than a third of the width are cut, marked, so the chart
        keeps its room.
        """
        row = TaskRow(1, "a-very-long-host-name.example.org:10001", 0, 0.5, (), 1, "ok")
        line = render_timeline_text([row], width=60, unicode=False).splitlines()[1]
        self.assertTrue(line.startswith("task 1 a-very-long-~ |"), line)
        self.assertEqual(len(line), 60)

    def test_narrowTerminal(self) -> None:
        """
        However narrow the terminal, the chart keeps its minimum width (10
        columns, 2s / 9 intervals) and draws every task's end.
        """
        text = render_timeline_text(KNOWN_ROWS, width=10, unicode=False)
        lines = [line for line in text.splitlines() if line.startswith("task ")]
        charts = [line.split("|")[1] for line in lines]
        self.assertEqual(charts, ["c.#..*    ", "-c#......T", "  --X     "])

    def test_noRows(self) -> None:
        """
        Nothing to draw says so.
        """
        self.assertEqual(
            render_timeline_text([], width=80, unicode=False),
            "timeline: no downloads\n",
        )


class SVGTimelineTests(SynchronousTestCase):
    """
    L{render_timeline_svg} writes a standalone SVG document.
    """

    def parse(self, rows: list[TaskRow]) -> ElementTree.Element:
        return ElementTree.fromstring(render_timeline_svg(rows))

    def test_parsesAsSVG(self) -> None:
        """
        The document is well-formed XML whose root is an SVG element with a
        size.
        """
        root = self.parse(KNOWN_ROWS)
        self.assertEqual(root.tag, f"{SVG}svg")
        self.assertEqual(root.get("width"), "800")
        self.assertTrue(int(root.get("height", "0")) > 0)

    def test_oneGroupPerTask(self) -> None:
        """
        Each task is one group, in order, labelled, and marked with its outcome.
        """
        groups = self.parse(KNOWN_ROWS).findall(f"{SVG}g[@class='task']")
        self.assertEqual([g.get("data-task") for g in groups], ["1", "2", "3"])
        self.assertEqual(
            [g.get("data-outcome") for g in groups], ["ok", "timeout", "failed"]
        )
        labels = [g.find(f"{SVG}text").text for g in groups]  # type: ignore[union-attr]
        self.assertEqual(labels, ["task 1  h:1", "task 2  h:2", "task 3  h:3"])
        # One tick per arrival, an end mark shaped by outcome.
        self.assertEqual(len(groups[0].findall(f"{SVG}rect")), 1 + 2)
        self.assertIsNotNone(groups[0].find(f"{SVG}circle"))
        self.assertIsNotNone(groups[2].find(f"{SVG}path"))

    def test_labelEscaped(self) -> None:
        """
        Markup characters in a label are escaped, and characters XML cannot
        hold are replaced, so the document still parses to the label's text.
        """
        row = TaskRow(1, '<&>"\x00', 0, None, (), 1, "failed")
        text = render_timeline_svg([row])
        self.assertNotIn('<&>"', text)
        self.assertNotIn("\x00", text)
        [group] = ElementTree.fromstring(text).findall(f"{SVG}g[@class='task']")
        self.assertEqual(group.find(f"{SVG}text").text, 'task 1  <&>"\ufffd')  # type: ignore[union-attr]

    def test_markupEverywhereEscaped(self) -> None:
        """
        A task's address, its outcome and the title holding C{<&"'} and
        newlines reach every place they are drawn (the title, the heading,
        each tooltip, label, summary and C{data-outcome} attribute) as the
        same text: the document parses and nothing is taken for markup.
        """
        rows = timeline_from_events(
            [
                event(0, 1, "factory", "startedConnecting", destination="h<&\"'x>:1"),
                event(1, 1, "protocol", "connectionLost", clean=True),
            ],
        )
        rows = [replace(rows[0], outcome="o<&\"\n'>")]
        text = render_timeline_svg(rows, title="t</title><&\"'")
        self.assertNotIn('<&"', text)
        root = ElementTree.fromstring(text)
        self.assertEqual(root.findtext(f"{SVG}title"), "t</title><&\"'")
        self.assertEqual(
            root.findtext(f"{SVG}text"), "t</title><&\"': 1 task in 1.000s"
        )
        [group] = root.findall(f"{SVG}g[@class='task']")
        self.assertEqual(group.get("data-outcome"), "o<&\"\n'>")
        label = "task 1  h<&\"'x>:1"
        summary = "o<&\"\n'>, 0 B"
        self.assertEqual(group.findtext(f"{SVG}title"), f"{label}: {summary}")
        self.assertEqual(
            [t.text for t in group.findall(f"{SVG}text")], [label, summary]
        )

    def test_knownGeometry(self) -> None:
        """
        The known rows at the default width: each task's dashes, bar, ticks
        and end mark are where their times put them (time 0 at x=93, 2s at
        x=676), with the colours and shapes of their outcomes.
        """
        groups = self.parse(KNOWN_ROWS).findall(f"{SVG}g[@class='task']")

        def shapes(group: ElementTree.Element) -> list[tuple[str, dict[str, str]]]:
            return [
                (child.tag.removeprefix(SVG), child.attrib)
                for child in group
                if child.tag not in (f"{SVG}title", f"{SVG}text")
            ]

        dashes = {"stroke": "#9e9e9e", "stroke-width": "2", "stroke-dasharray": "4 3"}
        ok, timeout, failed = "#2e7d32", "#ef6c00", "#c62828"
        self.assertEqual(
            shapes(groups[0]),
            [
                ("line", {"x1": "93", "y1": "57", "x2": "122.2", "y2": "57", **dashes}),
                (
                    "rect",
                    {
                        "x": "122.2",
                        "y": "51",
                        "width": "262.4",
                        "height": "12",
                        "fill": ok,
                        "fill-opacity": "0.25",
                    },
                ),
                (
                    "rect",
                    {"x": "238", "y": "51", "width": "2", "height": "12", "fill": ok},
                ),
                (
                    "rect",
                    {"x": "383", "y": "51", "width": "2", "height": "12", "fill": ok},
                ),
                ("circle", {"cx": "384.5", "cy": "57", "r": "5", "fill": ok}),
            ],
        )
        self.assertEqual(
            shapes(groups[1])[-1],
            (
                "rect",
                {
                    "x": "671.5",
                    "y": "78.5",
                    "width": "9",
                    "height": "9",
                    "fill": timeout,
                },
            ),
        )
        self.assertEqual(
            shapes(groups[2]),
            [
                (
                    "line",
                    {"x1": "238.8", "y1": "109", "x2": "326.2", "y2": "109", **dashes},
                ),
                (
                    "path",
                    {
                        "d": "M321.7 104.5L330.7 113.5M321.7 113.5L330.7 104.5",
                        "stroke": failed,
                        "stroke-width": "2.5",
                    },
                ),
            ],
        )
        summaries = [g.findall(f"{SVG}text")[1].attrib for g in groups]
        self.assertEqual(
            summaries,
            [
                {"x": "688", "y": "61", "fill": ok},
                {"x": "688", "y": "87", "fill": timeout},
                {"x": "688", "y": "113", "fill": failed},
            ],
        )

    def test_axisAndLegend(self) -> None:
        """
        There is a time axis labelled in seconds, and a legend for ok,
        failed and timeout.
        """
        root = self.parse(KNOWN_ROWS)
        axis = root.find(f"{SVG}g[@class='axis']")
        legend = root.find(f"{SVG}g[@class='legend']")
        assert axis is not None and legend is not None
        ticks = [t.text for t in axis.findall(f"{SVG}text")]
        self.assertEqual(ticks[:3], ["0s", "0.5s", "1s"])
        self.assertIn("2s", ticks)
        self.assertIn("seconds since start", ticks)
        legend_texts = [t.text for t in legend.findall(f"{SVG}text")]
        for outcome in ("ok", "failed", "timeout"):
            self.assertIn(outcome, legend_texts)

    def test_manyArrivalsOnePerPixel(self) -> None:
        """
        Thousands of arrivals draw at most one tick per pixel column.
        """
        arrivals = tuple((i / 10000, 1) for i in range(10000))
        row = TaskRow(1, "", 0, 0, arrivals, 1, "ok")
        [group] = self.parse([row]).findall(f"{SVG}g[@class='task']")
        self.assertLess(len(group.findall(f"{SVG}rect")), 800)


# --- the server's lifecycle trace ---------------------------------------------

SERVER_POEM = PoemFile("ten", b"abcdefghij")


class ServerLifecycleTraceTests(SynchronousTestCase):
    """
    The server's lifecycle trace (L{poetry.server}): C{connectionMade}, each
    slow-mode chunk and C{connectionLost} with its reason, as structured
    events in the real order of the calls, and nothing at all when off.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.events: list[LogEvent] = []

    def factory(self, **kw: Any) -> PoetryServerFactory:
        """
        A factory serving L{SERVER_POEM} on the test's clock, its lifecycle
        and access logs both observed by C{self.events}.
        """
        factory = PoetryServerFactory(
            PoemLibrary([SERVER_POEM]),
            reactor=self.clock,
            **kw,
        )
        observer = cast(ILogObserver, self.events.append)
        factory.lifecycle_log = Logger(namespace=LIFECYCLE_NAMESPACE, observer=observer)
        factory.access_log = Logger(namespace="poetry.access", observer=observer)
        return factory

    def connect(
        self, factory: PoetryServerFactory, port: int = 5555
    ) -> tuple[PoetryServerProtocol, StringTransport]:
        """Connect a protocol from C{factory} to a L{StringTransport}."""
        proto = factory.buildProtocol(IPv4Address("TCP", "10.0.0.7", port))
        assert proto is not None
        transport = StringTransport(peerAddress=IPv4Address("TCP", "10.0.0.7", port))
        proto.makeConnection(transport)
        return proto, transport

    def trace(self) -> list[tuple[object, ...]]:
        """
        The lifecycle events so far, as tuples: C{("connectionMade", poem)},
        C{("chunk", bytes, offset)}, C{("connectionLost", reason, clean)}.
        """
        shown: list[tuple[object, ...]] = []
        for e in self.events:
            name = e.get("lifecycle")
            if name == "connectionMade":
                shown.append((name, e["poem"]))
            elif name == "chunk":
                shown.append((name, e["bytes"], e["offset"]))
            elif name == "connectionLost":
                shown.append((name, e["reason"], e["clean"]))
        return shown

    def test_slowConnectionInOrder(self) -> None:
        """
        With tracing on, one slow connection logs connectionMade (info), each
        chunk with its size and offset as it is written (debug), then, from
        connectionLost, its access-log event naming the reason and that it
        was clean; in that order, with times from the clock and nothing else
        logged.
        """
        factory = self.factory(delay=0.5, chunk_size=4, trace=True)
        proto, transport = self.connect(factory)
        self.assertEqual(self.trace(), [("connectionMade", "ten"), ("chunk", 4, 0)])
        self.clock.advance(0.5)
        self.clock.advance(0.5)
        self.assertTrue(transport.disconnecting)
        proto.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(
            self.trace(),
            [
                ("connectionMade", "ten"),
                ("chunk", 4, 0),
                ("chunk", 4, 4),
                ("chunk", 2, 8),
                ("connectionLost", "ConnectionDone", True),
            ],
        )
        self.assertEqual(len(self.events), 5)
        self.assertEqual(
            [e["log_namespace"] for e in self.events],
            [LIFECYCLE_NAMESPACE] * 4 + ["poetry.access"],
        )
        self.assertEqual(
            [e["log_level"] for e in self.events],
            [LogLevel.info] + [LogLevel.debug] * 3 + [LogLevel.info],
        )
        self.assertEqual(
            [formatEvent(e) for e in self.events],
            [
                "10.0.0.7:5555 connectionMade: poem ten (10 bytes)",
                "10.0.0.7:5555 chunk: 4 bytes at offset 0",
                "10.0.0.7:5555 chunk: 4 bytes at offset 4",
                "10.0.0.7:5555 chunk: 2 bytes at offset 8",
                "10.0.0.7:5555 ten 10 bytes 1.000 s complete"
                " (connectionLost: ConnectionDone, clean=True)",
            ],
        )
        self.assertEqual(self.events[-1]["outcome"], ConnectionOutcome.COMPLETE.value)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_connectionsInterleave(self) -> None:
        """
        Two overlapping slow connections: the trace shows their chunks
        interleaved in the order the schedule wrote them, each line naming
        its peer.
        """
        factory = self.factory(delay=1.0, chunk_size=5, trace=True)
        first, _ = self.connect(factory, port=1)
        self.clock.advance(0.5)
        second, _ = self.connect(factory, port=2)
        self.clock.pump([0.5, 0.5])
        first.connectionLost(Failure(ConnectionDone()))
        second.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(
            [(e["lifecycle"], str(e["peer"]), e.get("offset")) for e in self.events],
            [
                ("connectionMade", "10.0.0.7:1", None),
                ("chunk", "10.0.0.7:1", 0),
                ("connectionMade", "10.0.0.7:2", None),
                ("chunk", "10.0.0.7:2", 0),
                ("chunk", "10.0.0.7:1", 5),
                ("chunk", "10.0.0.7:2", 5),
                ("connectionLost", "10.0.0.7:1", None),
                ("connectionLost", "10.0.0.7:2", None),
            ],
        )

    def test_slowModeTracesConnectionsByDefault(self) -> None:
        """
        Without C{trace}, slow mode traces connectionMade and connectionLost
        but not the chunks, so a slow server shows connections interleave
        out of the box without a line per chunk.
        """
        factory = self.factory(delay=0.5, chunk_size=4)
        self.assertEqual((factory.trace_lifecycle, factory.trace_chunks), (True, False))
        proto, _ = self.connect(factory)
        self.clock.advance(1.0)
        proto.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(
            self.trace(),
            [("connectionMade", "ten"), ("connectionLost", "ConnectionDone", True)],
        )

    def test_fastModeDefaultEmitsNothing(self) -> None:
        """
        In fast mode without C{trace} (the benchmarked path) the lifecycle
        log is never called: the only event of a connection is its plain
        access-log event, with no reason fields and no trace text.
        """
        factory = self.factory()
        self.assertEqual(
            (factory.trace_lifecycle, factory.trace_chunks), (False, False)
        )
        factory.lifecycle_log = cast(Logger, _Untouchable())
        proto, transport = self.connect(factory)
        proto.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(transport.value(), SERVER_POEM.data)
        [access] = self.events
        self.assertEqual(access["log_namespace"], "poetry.access")
        for key in ("lifecycle", "reason", "clean"):
            self.assertNotIn(key, access)
        self.assertEqual(
            formatEvent(access), "10.0.0.7:5555 ten 10 bytes 0.000 s complete"
        )

    def test_traceOffInSlowMode(self) -> None:
        """
        C{trace=False} turns the slow-mode default off: no lifecycle events.
        """
        factory = self.factory(delay=0.5, chunk_size=4, trace=False)
        factory.lifecycle_log = cast(Logger, _Untouchable())
        proto, _ = self.connect(factory)
        self.clock.advance(1.0)
        proto.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.trace(), [])
        self.assertEqual(len(self.events), 1)

    def test_traceInFastMode(self) -> None:
        """
        C{trace=True} traces fast connections too: connectionMade, then
        connectionLost; a fast poem has no chunks to log.
        """
        factory = self.factory(trace=True)
        proto, _ = self.connect(factory)
        proto.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(
            self.trace(),
            [("connectionMade", "ten"), ("connectionLost", "ConnectionDone", True)],
        )

    def test_resetClientUnclean(self) -> None:
        """
        A client that resets mid-poem logs connectionLost with the reset's
        reason, ConnectionLost, as not clean, and the client-gone outcome;
        the chunks already sent are in the trace and no more are written.
        """
        factory = self.factory(delay=0.5, chunk_size=4, trace=True)
        proto, transport = self.connect(factory)
        self.clock.advance(0.5)
        proto.connectionLost(Failure(ConnectionLost()))
        self.clock.advance(5.0)
        self.assertEqual(
            self.trace(),
            [
                ("connectionMade", "ten"),
                ("chunk", 4, 0),
                ("chunk", 4, 4),
                ("connectionLost", "ConnectionLost", False),
            ],
        )
        self.assertEqual(transport.value(), b"abcdefgh")
        lost = self.events[-1]
        self.assertEqual(lost["outcome"], ConnectionOutcome.CLIENT_GONE.value)
        self.assertEqual(
            formatEvent(lost),
            "10.0.0.7:5555 ten 8 bytes 0.500 s client gone"
            " (connectionLost: ConnectionLost, clean=False)",
        )
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_abortedAtShutdownUnclean(self) -> None:
        """
        A connection cut at shutdown (abortConnection) ends with
        ConnectionAborted, logged as not clean.
        """
        factory = self.factory(delay=0.5, chunk_size=4)
        proto, _ = self.connect(factory)
        factory.cut_all()
        proto.connectionLost(Failure(ConnectionAborted()))
        self.assertEqual(
            self.trace()[-1], ("connectionLost", "ConnectionAborted", False)
        )
        self.assertEqual(
            self.events[-1]["outcome"], ConnectionOutcome.CUT_AT_SHUTDOWN.value
        )


class _Untouchable:
    """A stand-in logger that fails the test if it is used at all."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"lifecycle log used ({name}) with tracing off")


class ServerTraceOptionTests(SynchronousTestCase):
    """C{twistd poetry --trace} and the default it overrides."""

    def factory_for(self, *argv: str) -> PoetryServerFactory:
        options = Options()
        options.parseOptions(["--port", "tcp:0:interface=127.0.0.1", *argv])
        return makeService(options).factory

    def test_defaults(self) -> None:
        """
        Without --trace: fast mode traces nothing, slow mode traces
        connections but not chunks.
        """
        fast = self.factory_for()
        slow = self.factory_for("--delay", "0.5")
        self.assertEqual((fast.trace_lifecycle, fast.trace_chunks), (False, False))
        self.assertEqual((slow.trace_lifecycle, slow.trace_chunks), (True, False))

    def test_traceForcesEverythingOn(self) -> None:
        """--trace (or -t) traces connections and chunks in either mode."""
        for argv in (["--trace"], ["-t", "--delay", "0.5"]):
            factory = self.factory_for(*argv)
            self.assertEqual(
                (factory.trace_lifecycle, factory.trace_chunks), (True, True), argv
            )


# One download that took three attempts: the first address refused at 0.1s,
# the second (same try) timed out at 1.0s, a retry at 1.5s got the poem.
RETRIED_EVENTS = [
    event(0.0, 1, "connector", "resolving", host="h"),
    event(0.0, 1, "connector", "resolved", addresses=["::1", "127.0.0.1"]),
    event(0.0, 1, "factory", "startedConnecting", destination="[::1]:1", address="h:1"),
    event(0.1, 1, "factory", "clientConnectionFailed", reason="ConnectionRefusedError"),
    event(0.1, 1, "factory", "startedConnecting", destination="127.0.0.1:1",
          address="h:1"),
    event(1.0, 1, "timeout", "fired", seconds=1.0),
    event(1.0, 1, "retry", "scheduled", attempt=2, seconds=0.5, error="PoemTimeout"),
    event(1.5, 1, "retry", "started", attempt=2),
    event(1.5, 1, "factory", "startedConnecting", destination="127.0.0.1:1",
          address="h:1"),
    event(1.6, 1, "protocol", "connectionMade"),
    event(1.7, 1, "protocol", "dataReceived", bytes=5),
    event(2.0, 1, "protocol", "connectionLost", reason="ConnectionDone", clean=True),
]  # fmt: skip


class TimelineAttemptsTests(SynchronousTestCase):
    """A download's attempts on the timeline: the next address, a retry."""

    def test_row(self) -> None:
        """
        Each attempt after the first is in C{attempts}; the end and the
        outcome are the last attempt's, not the first failure's; the label
        is the address asked for.
        """
        [row] = timeline_from_events(RETRIED_EVENTS)
        self.assertEqual(row.attempts, (0.1, 1.5))
        self.assertEqual((row.end, row.outcome), (2.0, "ok"))
        self.assertEqual(row.label, "h:1")
        self.assertEqual(row.received, 5)

    def test_text(self) -> None:
        """The text chart marks each new attempt, and names the mark."""
        [row] = timeline_from_events(RETRIED_EVENTS)
        text = render_timeline_text([row], width=40, unicode=False)
        [chart] = [line for line in text.splitlines() if line.startswith("task 1")]
        self.assertEqual(chart.split("|")[1].count("r"), 2, text)
        self.assertIn("r new attempt", text)
        plain = render_timeline_text(KNOWN_ROWS, width=47, unicode=False)
        self.assertNotIn("new attempt", plain)

    def test_svg(self) -> None:
        """The SVG puts a mark above each new attempt."""
        [row] = timeline_from_events(RETRIED_EVENTS)
        root = ElementTree.fromstring(render_timeline_svg([row]))
        marks = root.findall(f".//{SVG}text[@class='attempt']")
        self.assertEqual([m.text for m in marks], ["↻", "↻"])
