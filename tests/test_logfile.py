"""
Tests for L{poetry.logfile.BufferedFileLogObserver}: the text it writes, when
it writes it, and its wiring into the service (reopen, stop).
"""

from __future__ import annotations

import enum
import io
import os
import shutil
import signal
import tempfile
from operator import itemgetter
from pathlib import Path
from typing import Any

from twisted.application.service import Application
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import (
    ILogObserver,
    Logger,
    LogLevel,
    eventAsJSON,
    eventFromJSON,
    textFileLogObserver,
)
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from poetry.library import PoemFile, PoemLibrary
from poetry.logfile import BufferedFileLogObserver, ReopeningLogFile
from poetry.logline import line_format, positional_format
from poetry.server import ACCESS_NAMESPACE, LIFECYCLE_NAMESPACE, PoetryServerFactory
from poetry.server.accesslog import ACCESS_FORMAT, FAULT_ACCESS_FORMAT
from poetry.service import PoetryService, ProcessSignals
from tests.helpers import lose

#: A fixed time, mid-second, so a timestamp cached per second is tested.
T0 = 1_700_000_000.25


def failure() -> Failure:
    try:
        raise ZeroDivisionError("a test failure")
    except ZeroDivisionError:
        return Failure()
    raise AssertionError("unreachable")


class Formatted:
    """A value whose C{format()} is not its C{str()}."""

    def __format__(self, spec: str) -> str:
        return f"formatted({spec})"

    def __str__(self) -> str:
        return "str"

    def __repr__(self) -> str:
        return "repr"


class Shouting(str):
    """A str whose C{format()} is its own."""

    def __format__(self, spec: str) -> str:
        return self.upper()


class Ticking:
    """A value formatted differently each time (a counter's reading)."""

    def __init__(self) -> None:
        self.reads = 0

    def __format__(self, spec: str) -> str:
        self.reads += 1
        return f"tick{self.reads}"


class Level:
    """Something with a level's C{name}, which may change."""

    def __init__(self, name: str) -> None:
        self.name = name


class Colour(enum.IntEnum):
    RED = 1


class Point:
    x = 3
    label = "p"


#: Formats and values every rendering is checked against format_map and
#: twisted's formatter with (see test_everyFormatEveryValue).
FORMATS = [
    "{a} {b}",
    "{a}",
    "plain text, no fields",
    "{a!r} {b!s} {a!a}",
    "{a:>8} {b:.3f} {a:x}",
    "{a!r:^12}|{b}",
    "{a.x} {b[1]} {a.label!r}",
    "{a.real} {a.imag}",
    "{{a}} {a} %s %% {b}",
    "{a} {a} {b} {a}",
    "{a:{b}} {b}",
    "{a} {b.__class__}",
    "{a} {0}",
    "{a} {}",
    "{a} {b!x}",
    "{a} {missing}",
    "{a} {b",
    "{a} }",
    "{a} {b()}",
    "\u00e9t\u00e9 {a} \t {b}\n{a}",
]

VALUES: list[Any] = [
    "text",
    "two\nlines",
    "caf\xe9",
    "",
    7,
    -0.5,
    1e300,
    float("nan"),
    True,
    None,
    Formatted(),
    Shouting("loud"),
    Colour.RED,
    Point(),
    (1, "x"),
    {1: "one", "k": 2},
    b"bytes",
]


class CountingFile(io.BytesIO):
    """A binary file that counts its writes and flushes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.flushes = 0

    def write(self, data: Any) -> int:
        self.writes += 1
        return super().write(data)

    def flush(self) -> None:
        self.flushes += 1


def event(
    namespace: str = ACCESS_NAMESPACE, when: float = T0, **kw: Any
) -> dict[str, Any]:
    """An event as C{Logger.emit} makes it."""
    fields: dict[str, Any] = {
        "log_format": "{peer} {n}",
        "peer": "127.0.0.1:1",
        "n": 1,
        "log_namespace": namespace,
        "log_level": LogLevel.info,
        "log_time": when,
    }
    fields.update(kw)
    return fields


class BufferedFileLogObserverTests(SynchronousTestCase):
    """L{BufferedFileLogObserver}: twistd's lines, written in batches."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.out = CountingFile()
        self.observer = BufferedFileLogObserver(
            self.out, self.clock, (ACCESS_NAMESPACE, LIFECYCLE_NAMESPACE)
        )

    def test_interface(self) -> None:
        """It is an L{ILogObserver}."""
        self.assertTrue(verifyObject(ILogObserver, self.observer))

    def test_sameTextAsTextFileLogObserver(self) -> None:
        """
        Once written, the text is what twistd's own observer
        (C{textFileLogObserver}) writes for the same events, byte for
        byte, in order: events in different seconds get their own
        timestamps, a C{log_system} or a missing time shows as twistd
        shows it, a non-ASCII field is UTF-8.
        """
        events = [
            event(),
            event(when=T0 + 0.5),  # the same second
            event(when=T0 + 1.0),  # the next one
            event(LIFECYCLE_NAMESPACE, when=T0 + 3600 * 24 * 180, n="caf\xe9"),
            event(when=T0 + 2, log_system="pid:7"),
            event(log_time=None),
            event(when=T0 - 1.0),  # a clock stepped back
            event(n="two\nlines"),  # continuation lines indented
            event(log_format="{peer!r:>20} {n:05d} {{braces}} {log_level.name}"),
            # Compiled formats: the literal text escaped as it must be in
            # the f-string's source, conversions and specs kept.
            event(log_format="\"q\" 's' back\\slash {{x}} {peer!a} {n:+.2f}%"),
            event(log_format="cr\rtab\t{n!s:^7} {peer:>{n}}"),  # nested spec
            event(log_format="{n} {0} {}"),  # positional: twisted's message
            event(log_format="nul\x00{n}"),
            event(log_format=""),  # no text: no line
            event(log_level=None),  # no level
            event(log_format="{missing}"),  # unformattable: twisted's message
            event(log_format="{peer.upper()} {n}"),  # twisted's call syntax
            event(log_format=b"{peer} bytes"),
            event(log_format="{n}", log_failure=failure()),  # with traceback
            event(log_namespace=None),  # not buffered: written through
        ]
        self.assertSameText(*events)
        self.assertEqual((self.out.writes, self.out.flushes), (1, 1))

    def assertSameText(self, *events: dict[str, Any]) -> None:
        """
        The observer writes what C{textFileLogObserver} writes for
        C{events}, byte for byte.
        """
        plain = io.BytesIO()
        reference = textFileLogObserver(plain)
        for e in events:
            self.observer(dict(e))
            reference(dict(e))
        self.observer.flush()
        self.assertEqual(self.out.getvalue(), plain.getvalue())

    def test_newlineInTheSystem(self) -> None:
        """
        A newline in the namespace (or in a C{log_system}) is indented as
        twistd indents every newline of the line, not only the text's.
        """
        self.assertSameText(
            event(log_namespace="two\nlines"),
            event(log_namespace="two\nlines", n="and\nmore"),
            event(log_system="sys\ntem"),
        )

    def test_timeBeforeTheEpoch(self) -> None:
        """
        A time before 1970 shows the second it falls in (C{-0.5} is
        23:59:59), not the second a truncation towards zero gives.
        """
        self.assertSameText(event(when=-0.5), event(when=-1.0), event(when=-1.5))

    def test_everyFormatEveryValue(self) -> None:
        """
        Each of L{FORMATS} with each of L{VALUES} (values with their own
        C{format()}, a str subclass, an enum, objects with attributes and
        items, newlines, formats with specs, conversions, attributes,
        indexes, nested specs, positional fields, calls, missing keys,
        bad syntax) gives twistd's text, byte for byte.
        """
        events = [
            event(log_format=fmt, a=a, b=b)
            for fmt in FORMATS
            for a in VALUES
            for b in (a, 3, 2.5, "s")
        ]
        self.assertSameText(*events)

    def observe_formatter(self) -> list[object]:
        """
        Make C{self.observer} one that notes the format of each event it
        hands to twisted.logger's formatter (L{BufferedFileLogObserver._format}).

        @return: the list the formats are noted in.
        """
        formatted: list[object] = []

        class Observer(BufferedFileLogObserver):
            def _format(self, event: dict[str, Any]) -> str | None:
                formatted.append(event["log_format"])
                return super()._format(event)

        self.observer = Observer(self.out, self.clock, (ACCESS_NAMESPACE,))
        return formatted

    def test_commonEventsFormattedHere(self) -> None:
        """
        The common events (one field or several, specs, conversions,
        attributes and indexes, values of any type, several lines, no
        field at all) are formatted by the observer itself, never by
        twisted.logger's formatter (L{BufferedFileLogObserver._format}),
        and still give twistd's text.
        """
        formatted = self.observe_formatter()
        access = {
            "peer": "127.0.0.1:1",
            "poem": "p",
            "bytes": 10,
            "seconds": 0.25,
            "outcome": "complete",
            "fault": None,
        }
        self.assertSameText(
            event(log_format=ACCESS_FORMAT, **access),
            event(log_format=FAULT_ACCESS_FORMAT, **{**access, "fault": "stall"}),
            event(log_format="{peer}"),
            event(log_format="no fields"),
            event(log_format="{peer!r:>20} {n:05d} {peer!a}"),
            event(
                log_format="{p.x} {p.label!r} {t[1]} {d[k]}",
                p=Point(),
                t=(1, "x"),
                d={"k": 2},
            ),
            event(
                log_format="{v} {s} {c}", v=Formatted(), s=Shouting("x"), c=Colour.RED
            ),
            event(log_format="{peer:>{n}} {n}"),  # nested: format_map
            event(n="two\nlines"),
            event(log_namespace="other", log_level=LogLevel.warn),
            event(log_system="worker 1 poetry.access#info"),
        )
        self.assertEqual(formatted, [])

    def test_systems(self) -> None:
        """
        An event's C{log_system} (a worker's events have one) is shown as
        twistd shows it: a str as it is, in its own second, after other
        systems or none; L{None} as no system; any other object as its
        C{str()}, or C{UNFORMATTABLE}; and its events wait or not by
        their namespace.
        """

        class Unprintable:
            def __str__(self) -> str:
                raise ValueError("no")

        self.assertSameText(
            event(log_system="worker 1 poetry.access#info"),
            event(log_system="worker 1 poetry.access#info", when=T0 + 0.5),
            event(log_system="worker 2 poetry.access#info", when=T0 + 0.6),
            event(log_system="worker 2 poetry.access#info", when=T0 + 1),
            event(when=T0 + 1.1),
            event(log_system="worker 2 poetry.access#info", when=T0 + 1.2),
            event(log_system=None),
            event(log_system=7),
            event(log_system=Unprintable()),
            event(log_system="w", log_time=None),
            event(LIFECYCLE_NAMESPACE, log_system="w", log_level=LogLevel.warn),
        )
        self.observer(event("other", log_system="worker 1 other#info"))
        self.observer(event("other", log_system="worker 1 other#info"))
        self.assertEqual(self.out.writes, 3)  # written through, each

    def test_otherEventsToTwistedFormatter(self) -> None:
        """
        The events the observer must not format itself go to
        twisted.logger's formatter: a call (C{{name()}}), an attribute of
        C{twisted.logger}'s value wrapper (C{{a.__class__}}), a missing
        key, a positional field, a non-str format, a traceback, flattened
        fields; the text is twistd's.
        """
        formatted = self.observe_formatter()
        # An event read back from JSON carries its fields flattened.
        flat = eventFromJSON(eventAsJSON(event(log_format="{peer} {n}")))
        others = [
            event(log_format="{peer.upper()} {n}"),
            event(log_format="{peer.__class__} {n}"),
            event(log_format="{peer} {missing}"),
            event(log_format="{peer} {0}"),
            event(log_format=b"{peer} {n}"),
            event(log_format=7),
            event(log_failure=failure()),
            flat,
            # Flattened fields are what is shown, not the live ones.
            event(log_flattened={"peer!s:": "then", "n!s:": "2"}, peer="now"),
        ]
        self.assertSameText(*others)
        self.assertEqual(formatted, [e["log_format"] for e in others])

    def test_keptLineOnlyForItsEvents(self) -> None:
        """
        An event of the kept line's format that differs in anything else
        that shows in its text (a traceback, flattened fields, a
        C{log_system}, another namespace, level or second, no time, a
        newline in a value) still gets twistd's text.
        """
        second = float(int(T0))
        self.assertSameText(
            event(),
            event(log_failure=failure()),
            event(),
            event(log_flattened={"peer!s:": "then", "n!s:": "2"}, peer="now"),
            event(),
            event(log_system="pid:7"),
            event(),
            event(LIFECYCLE_NAMESPACE),
            event(),
            event(log_level=LogLevel.warn),
            event(),
            event(when=second),  # the first instant of T0's second
            event(when=second + 1),  # the next second's
            event(when=second + 0.5),
            event(log_time=None),
            event(n="two\nlines"),
            event(n=""),
        )

    def test_keptLinePerSecond(self) -> None:
        """
        Of a second's common events of one format, namespace and level,
        only the first is formatted by L{_observe} (the rest by the kept
        line), however the second is entered; an event of another format
        is L{_observe}'s and keeps its own line.
        """
        observed: list[object] = []

        class Observer(BufferedFileLogObserver):
            def _observe(self, event: dict[str, Any]) -> None:
                observed.append(event["log_time"])
                super()._observe(event)

        self.observer = Observer(self.out, self.clock, (ACCESS_NAMESPACE,))
        second = float(int(T0))
        self.assertSameText(
            event(when=second + 0.5),
            event(when=second),
            event(when=second + 0.99),
            event(when=second + 1),
            event(when=second + 1.5),
            event(when=second + 1.6, log_format="{n} {peer}"),
            event(when=second + 1.7, log_format="{n} {peer}"),
            event(when=second + 1.8),
        )
        self.assertEqual(
            observed, [second + 0.5, second + 1, second + 1.6, second + 1.8]
        )

    def test_headNotKeptForChangingText(self) -> None:
        """
        The head of a line is kept only for a str namespace and a real
        level: a namespace object formatted anew each time, or a level
        whose name changes, shows as twistd shows it at each event.
        """

        def events(namespace: Ticking, level: Level) -> list[dict[str, Any]]:
            return [
                event(),  # a head kept for the second: not for what follows
                event(log_namespace=namespace),
                event(log_namespace=namespace),
                event(log_level=level),
                event(log_level=level),
            ]

        levels = Level("one"), Level("one")
        ours = events(Ticking(), levels[0])
        theirs = events(Ticking(), levels[1])
        plain = io.BytesIO()
        reference = textFileLogObserver(plain)
        for n, (mine, other) in enumerate(zip(ours, theirs, strict=True)):
            self.observer(mine)
            reference(other)
            for level in levels:
                level.name = f"name{n}"
        self.observer.flush()
        self.assertEqual(self.out.getvalue(), plain.getvalue())
        self.assertIn(b"[tick2#info]", plain.getvalue())
        self.assertIn(b"[poetry.access#name2]", plain.getvalue())

    def test_headKeptPerSecond(self) -> None:
        """
        The head of a line is that of its event's second, namespace and
        level, whatever came between: events of another second formatted
        by twisted.logger's formatter, other namespaces and levels.
        """
        self.assertSameText(
            event(),
            event(when=T0 + 5, log_system="pid:7"),
            event(when=T0 + 5.1),
            event(when=T0 + 0.1),
            event(LIFECYCLE_NAMESPACE, when=T0 + 0.2),
            event(when=T0 + 0.3, log_level=LogLevel.warn),
            event(when=T0 + 0.4),
            event(when=T0 + 1),
            event(log_time=None),
            event(when=T0 + 1.5),
        )

    def test_formatsBounded(self) -> None:
        """
        At most L{MAX_FORMATS} formats' renderings are kept (a program that
        puts values in its formats makes a new one per event); the text
        stays twistd's when they are forgotten.
        """
        self.observer.MAX_FORMATS = 2
        self.assertSameText(
            *(event(log_format=f"{{peer}} {i % 3} {{n}}") for i in range(9))
        )
        self.assertLessEqual(len(self.observer._formats), 2)

    def test_noTimestamps(self) -> None:
        """
        Without a time format, lines show C{-} for the time, as twistd's
        observer does with C{timeFormat=None}.
        """
        observer = BufferedFileLogObserver(
            self.out, self.clock, (ACCESS_NAMESPACE,), time_format=None
        )
        plain = io.BytesIO()
        reference = textFileLogObserver(plain, timeFormat=None)
        for e in [event(), event(when=T0 + 1), event(log_system="w"), event()]:
            observer(dict(e))
            reference(dict(e))
        observer.flush()
        self.assertEqual(self.out.getvalue(), plain.getvalue())
        self.assertTrue(self.out.getvalue().startswith(b"- [poetry.access#info]"))

    def test_waitsForTheTimer(self) -> None:
        """
        Buffered text waits L{FLUSH_DELAY} seconds from the first event (one
        timer, armed by the first event only), then goes out in one write
        and flush; no timer is left once nothing waits.
        """
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.observer(event())
        self.clock.advance(self.observer.FLUSH_DELAY / 2)
        self.observer(event(n=2))
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.clock.advance(self.observer.FLUSH_DELAY / 2 - 0.001)
        self.assertEqual(self.out.getvalue(), b"")
        self.clock.advance(0.001)
        self.assertEqual(self.out.getvalue().count(b"\n"), 2)
        self.assertEqual((self.out.writes, self.out.flushes), (1, 1))
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.observer(event(n=3))  # a new wait, a new timer
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.clock.advance(self.observer.FLUSH_DELAY)
        self.assertEqual(self.out.getvalue().count(b"\n"), 3)
        self.assertEqual(self.out.writes, 2)

    def test_sizeBound(self) -> None:
        """
        Once the waiting text reaches L{MAX_BUFFER}, it is written at once
        and the timer is cancelled; less than that waits.
        """
        line = len(b"2023-11-14T22:13:20+0000 [poetry.access#info] 127.0.0.1:1 1\n")
        self.observer.MAX_BUFFER = 3 * line
        self.observer(event())
        self.observer(event())
        self.assertEqual(self.out.writes, 0)
        self.observer(event())
        self.assertEqual(self.out.writes, 1)
        self.assertEqual(len(self.out.getvalue()), 3 * line)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.observer(event())  # the count starts again
        self.observer(event())
        self.assertEqual(self.out.writes, 1)

    def test_oneLineFillsTheBuffer(self) -> None:
        """A line as long as L{MAX_BUFFER} is written at once: no timer."""
        line = len(b"2023-11-14T22:13:20+0000 [poetry.access#info] 127.0.0.1:1 1\n")
        self.observer.MAX_BUFFER = line
        self.observer(event())
        self.assertEqual(self.out.writes, 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.observer(event())  # the kept line's
        self.assertEqual(self.out.writes, 2)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_roomAfterAFlush(self) -> None:
        """
        Text written by L{flush} leaves the whole L{MAX_BUFFER} to what
        waits next (and the next wait arms a new timer).
        """
        line = len(b"2023-11-14T22:13:20+0000 [poetry.access#info] 127.0.0.1:1 1\n")
        self.observer.MAX_BUFFER = 3 * line
        self.observer(event())
        self.observer.flush()
        self.observer(event())
        self.observer(event())
        self.assertEqual(self.out.writes, 1)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.observer(event())
        self.assertEqual(self.out.writes, 2)
        self.assertEqual(len(self.out.getvalue()), 4 * line)

    def test_otherEventsWriteThrough(self) -> None:
        """
        An event of another namespace (start-up, stop, errors, twistd's
        own) is written at once, after what waited: the file keeps the
        order, and nothing waits any more.
        """
        self.observer(event(n=1))
        self.observer(event(LIFECYCLE_NAMESPACE, n=2))
        self.observer(event("twisted.application", n=3, log_level=LogLevel.error))
        lines = self.out.getvalue().decode().splitlines()
        self.assertEqual([line[-1] for line in lines], ["1", "2", "3"])
        self.assertEqual((self.out.writes, self.out.flushes), (1, 1))
        self.assertEqual(self.clock.getDelayedCalls(), [])
        # The next one of that namespace, in the same second, too.
        self.observer(event("twisted.application", n=4, log_level=LogLevel.error))
        self.assertEqual((self.out.writes, self.out.flushes), (2, 2))
        self.assertTrue(self.out.getvalue().endswith(b" 4\n"))

    def test_nothingToFormat(self) -> None:
        """An event without text writes nothing and arms no timer."""
        self.observer({"log_namespace": ACCESS_NAMESPACE, "log_time": T0})
        self.observer({"log_namespace": "other", "log_time": T0})
        self.observer.flush()
        self.assertEqual((self.out.writes, self.out.flushes), (0, 0))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_flushCancelsTheTimer(self) -> None:
        """L{flush} writes what waits and cancels the timer."""
        self.observer(event())
        self.observer.flush()
        self.assertEqual(self.out.writes, 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(self.observer.FLUSH_DELAY)
        self.assertEqual(self.out.writes, 1)


class WiringTests(SynchronousTestCase):
    """The buffered observer as the service wires it to twistd's log file."""

    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)
        self.clock = Clock()
        self.factory = PoetryServerFactory(
            PoemLibrary([PoemFile("short", b"a poem\n")]), reactor=self.clock
        )
        self.service = PoetryService(self.factory, [])
        self.log_file = ReopeningLogFile.fromFullPath(str(self.tmp / "server.log"))
        self.addCleanup(self.log_file.close)
        self.service.log_file = self.log_file
        self.service.setServiceParent(Application("poetry"))
        observer = self.service.log_observer
        assert isinstance(observer, BufferedFileLogObserver)
        self.assertIs(observer.out, self.log_file)
        self.assertIs(observer.clock, self.clock)
        self.observer = observer
        # The service's and the factory's loggers, to this observer only.
        # (The start-up and stop lines are the GracefulStop's.)
        self.service.stopper.log = Logger(observer=observer)
        self.factory.access_log = Logger(ACCESS_NAMESPACE, observer=observer)

    def serve(self) -> None:
        """Serve one connection to its end."""
        proto = self.factory.buildProtocol(None)  # type: ignore[arg-type]
        assert proto is not None
        proto.makeConnection(StringTransport())
        lose(proto)

    def text(self, name: str = "server.log") -> str:
        return (self.tmp / name).read_text()

    def test_stopWritesEverything(self) -> None:
        """
        Access lines wait; stopping the service writes them, before its
        summary line: nothing is lost at a clean stop.
        """
        self.service.startService()
        self.assertEqual(len(self.text().splitlines()), 1)  # written through
        self.serve()
        self.serve()
        self.assertEqual(len(self.text().splitlines()), 1)
        self.service.stopService()
        lines = self.text().splitlines()
        self.assertEqual(len(lines), 4, lines)
        self.assertIn("serving 1 poem", lines[0])
        self.assertTrue(lines[0].endswith("(fast)"), lines[0])
        for line in lines[1:3]:
            self.assertIn("[poetry.access#info]", line)
            self.assertTrue(line.endswith(" complete"), line)
        self.assertIn("Poetry server stopped: 2 poems served", lines[3])

    def test_reopenWritesTheOldFileFirst(self) -> None:
        """
        SIGUSR1 (logrotate's C{create}: the file was moved away) writes the
        lines still waiting to the old file, where they belong, then
        reopens: the new file starts with the reopen message.
        """
        self.serve()
        os.rename(self.tmp / "server.log", self.tmp / "server.log.1")
        signals = ProcessSignals(self.service, object(), install=lambda n, h: None)
        signals.log = Logger(observer=self.observer)
        signals.received(signal.SIGUSR1)
        old = self.text("server.log.1").splitlines()
        self.assertEqual(len(old), 1)
        self.assertTrue(old[0].endswith(" complete"), old)
        new = self.text().splitlines()
        self.assertEqual(len(new), 1)
        self.assertIn("Received SIGUSR1: reopened the log file", new[0])


class LineFormatTests(SynchronousTestCase):
    """
    L{positional_format} and L{line_format}: how the observer renders a
    format's text.
    """

    def test_positionalFormat(self) -> None:
        """
        A format of named fields becomes one of automatically numbered
        fields (literal braces escaped again, each field's attributes,
        index, conversion and spec kept) and its names, in order.
        """
        self.assertEqual(
            positional_format("{peer} {poem} {seconds:.3f} s"),
            ("{} {} {:.3f} s", ("peer", "poem", "seconds")),
        )
        self.assertEqual(
            positional_format("{{x}} 100% {a!r:>8} {b.c[0]} {a!s}"),
            ("{{x}} 100% {!r:>8} {.c[0]} {!s}", ("a", "b", "a")),
        )
        self.assertEqual(positional_format("no fields"), ("no fields", ()))

    def test_notPositional(self) -> None:
        """
        A format that cannot be parsed, has a positional field or a nested
        field in a spec has no positional form.
        """
        for fmt in ["{a} {}", "{a} {0}", "{a} {.x}", "{a:{b}}", "{a", "a }", "{a!}"]:
            self.assertIsNone(positional_format(fmt), fmt)

    def test_samePositionalText(self) -> None:
        """
        For every one of L{FORMATS} that has a positional form and every
        pair of L{VALUES}, the positional form gives C{format_map}'s text,
        or both fail.
        """
        checked = 0
        for fmt in FORMATS:
            positional = positional_format(fmt)
            if positional is None:
                continue
            template, names = positional
            for a in VALUES:
                for b in VALUES:
                    values = {"a": a, "b": b}
                    try:
                        expected: str | None = fmt.format_map(values)
                    except Exception:
                        expected = None
                    try:
                        got: str | None = template.format(
                            *(values[name] for name in names)
                        )
                    except Exception:
                        got = None
                    self.assertEqual(got, expected, (fmt, a, b))
                    checked += expected is not None
        self.assertGreater(checked, 1000)

    def test_renderings(self) -> None:
        """
        A format of two fields or more is rendered by its positional form's
        C{format} and an C{itemgetter}; one of fewer fields, or with a
        nested spec, by its own C{format_map}; one with a call or an
        attribute beginning with C{_}, by twisted.logger's formatter.
        """
        render, fields = line_format("{peer} {n:.3f}")
        assert render is not None
        self.assertEqual((render.__self__, render.__name__), ("{} {:.3f}", "format"))  # type: ignore[attr-defined]
        assert fields is not None
        self.assertEqual(fields({"peer": "p", "n": 1, "x": 2}), ("p", 1))
        self.assertEqual(fields.__class__, itemgetter)
        for fmt in ["{peer}", "text", "{peer:>{n}} {n}", "{n} {}"]:
            render, fields = line_format(fmt)
            assert render is not None
            self.assertEqual((render.__self__, render.__name__), (fmt, "format_map"))  # type: ignore[attr-defined]
            self.assertIsNone(fields)
        for fmt in ["{peer.upper()}", "{peer.__class__} {n}", "{n._x} {n}"]:
            self.assertEqual(line_format(fmt), (None, None), fmt)
