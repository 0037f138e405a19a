"""
Tests for L{poetry.logfile.BufferedFileLogObserver}: the text it writes, when
it writes it, and its wiring into the service (reopen, stop).
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any

from twisted.application.service import Application
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import ILogObserver, Logger, LogLevel, textFileLogObserver
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from poetry.library import PoemFile, PoemLibrary
from poetry.logfile import BufferedFileLogObserver, ReopeningLogFile
from poetry.server import ACCESS_NAMESPACE, LIFECYCLE_NAMESPACE, PoetryServerFactory
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
            event(log_format='"q" \'s\' back\\slash {{x}} {peer!a} {n:+.2f}%'),
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
        plain = io.BytesIO()
        reference = textFileLogObserver(plain)
        for e in events:
            self.observer(dict(e))
            reference(dict(e))
        self.observer.flush()
        self.assertEqual(self.out.getvalue(), plain.getvalue())
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
