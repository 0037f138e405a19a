"""
Tests for L{poetry.server.mix}: the fault mix each connection draws from
at accept, its seed, its targeting by client network, and how the factory
uses it (C{protocol_for}, C{set_mix}, the access event, the start-up
line).  All on a L{MemoryReactorClock}; the real-socket runs are in
tests/test_testing.py.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import Logger, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from poetry.faults import Latency, Refuse, Reset, Silent, Stall, parse_fault
from poetry.library import PoemFile, PoemLibrary
from poetry.server import PoetryServerFactory, PoetryServerProtocol
from poetry.server.mix import FaultMix, parse_network
from poetry.service import GracefulStop
from tests.helpers import lose

POEM = PoemFile("mix", b"Draw by draw the faults arrive,\nthe seed says which.\n")


def peer(host: str = "127.0.0.1", port: int = 40000) -> Any:
    return (IPv6Address if ":" in host else IPv4Address)("TCP", host, port)


def make_factory(mix: FaultMix | None, **kw: Any) -> PoetryServerFactory:
    return PoetryServerFactory(
        PoemLibrary([POEM]), mix=mix, reactor=MemoryReactorClock(), **kw
    )


def drawn(factory: PoetryServerFactory, count: int, host: str = "127.0.0.1") -> list:
    """The fault (or None) of each of C{count} connections accepted in turn."""
    faults = []
    for port in range(count):
        proto = factory.buildProtocol(peer(host, port))
        faults.append(getattr(proto, "fault", None))
    return faults


class FaultMixTests(SynchronousTestCase):
    """L{FaultMix}: probabilities, seeds, draws."""

    def test_sameSeedSameSequence(self) -> None:
        """
        With the same seed and mix, connection k gets the same fault in
        every run; another seed gives another sequence; L{FaultMix.sequence}
        predicts it without drawing.
        """
        entries = [(Reset(5), 0.3), (Stall(), 0.2)]
        first = drawn(make_factory(FaultMix(entries, seed=1234)), 200)
        again = drawn(make_factory(FaultMix(entries, seed=1234)), 200)
        other = drawn(make_factory(FaultMix(entries, seed=1235)), 200)
        self.assertEqual(first, again)
        self.assertNotEqual(first, other)
        self.assertEqual(FaultMix(entries, seed=1234).sequence(200), first)
        self.assertEqual(set(first), {Reset(5), Stall(), None})

    def test_frequencies(self) -> None:
        """
        Over 20,000 connections each fault's share is within 0.015 of its
        probability (over 6 standard deviations), and the rest are served.
        """
        shares = [(Reset(1), 0.25), (Refuse(), 0.1), (Silent(), 0.05)]
        counts = Counter(FaultMix(shares, seed=7).sequence(20_000))
        for fault, p in [*shares, (None, 0.6)]:
            self.assertLess(abs(counts[fault] / 20_000 - p), 0.015, (fault, counts))

    def test_probabilityOneAlwaysFaults(self) -> None:
        """A fault at probability 1 (or a sum of 1) leaves nobody served."""
        self.assertNotIn(None, FaultMix([(Stall(), 1.0)]).sequence(500))
        thirds = FaultMix([(Stall(), 0.1), (Silent(), 0.2), (Refuse(), 0.7)], seed=3)
        self.assertNotIn(None, thirds.sequence(2000))

    def test_badMixes(self) -> None:
        """Probabilities outside (0, 1], not numbers, or adding up past 1."""
        for entries in [
            [(Stall(), 0.0)], [(Stall(), -0.1)], [(Stall(), 1.5)],
            [(Stall(), float("nan"))], [(Stall(), True)],
            [(Stall(), 0.6), (Silent(), 0.5)],
        ]:  # fmt: skip
            self.assertRaises(ValueError, FaultMix, entries)
        for seed in [-1, 1.5, True, "7"]:
            self.assertRaises(ValueError, FaultMix, [(Stall(), 1.0)], seed=seed)

    def test_seedChosenWhenNotGiven(self) -> None:
        """Without a seed one is chosen (and kept, to be logged)."""
        seeds = {FaultMix([(Stall(), 0.5)]).seed for _ in range(20)}
        self.assertGreater(len(seeds), 15)
        self.assertTrue(all(isinstance(s, int) and s >= 0 for s in seeds))

    def test_hangsAndOnly(self) -> None:
        """
        C{hangs}: every connection hangs (so no default idle timeout);
        C{only}: the one fault of a probability-1 mix.
        """
        self.assertTrue(FaultMix([(Stall(), 0.5), (Silent(), 0.5)]).hangs)
        self.assertFalse(FaultMix([(Stall(), 0.5)]).hangs)
        self.assertFalse(FaultMix([(Stall(), 0.5), (Reset(1), 0.5)]).hangs)
        self.assertEqual(FaultMix([(Stall(), 1.0)]).only, Stall())
        self.assertIsNone(FaultMix([(Stall(), 0.9)]).only)

    def test_text(self) -> None:
        """str(): every fault with its probability, the seed, the peers."""
        mix = FaultMix(
            [(parse_fault("latency:1,0.5"), 0.25), (Reset(3), 0.1)],
            seed=9,
            peers=[parse_network("10.0.0.0/8")],
        )
        self.assertEqual(
            str(mix), "latency:1,0.5@0.25, reset:3@0.1; seed 9; peers 10.0.0.0/8"
        )

    def test_connectionRandomIsItsOwn(self) -> None:
        """
        A fault protocol's own generator (jitter, slice sizes) depends on
        the seed and the connection's number only: connection 3 draws the
        same values whatever connections 0 to 2 drew.
        """
        latency = Latency(1, 0.5)
        a = latency.build(3, 42).random.random()
        self.assertEqual(latency.build(3, 42).random.random(), a)
        self.assertNotEqual(latency.build(4, 42).random.random(), a)
        self.assertNotEqual(latency.build(3, 43).random.random(), a)


class TargetingTests(SynchronousTestCase):
    """C{--fault-peer}: only clients from those networks get faults."""

    def test_parseNetwork(self) -> None:
        """Networks, single addresses, host bits set; bad ones in one line."""
        self.assertEqual(str(parse_network("10.1.2.3/8")), "10.0.0.0/8")
        self.assertEqual(str(parse_network(" 127.0.0.1 ")), "127.0.0.1/32")
        self.assertEqual(str(parse_network("::1")), "::1/128")
        for bad in ["10.0.0.0/33", "localhost", "", "1.2.3"]:
            with self.assertRaises(ValueError) as cm:
                parse_network(bad)
            self.assertIn(repr(bad), str(cm.exception))

    def test_onlyTargetedPeersGetFaults(self) -> None:
        """
        With peers 10.0.0.0/8 and ::1, clients there get the mix's faults;
        127.0.0.1, 11.0.0.1, an IPv4-mapped address outside, and a UNIX
        socket are served poems.  An IPv4-mapped address inside is
        targeted.
        """
        mix = FaultMix(
            [(Refuse(), 1.0)],
            peers=[parse_network("10.0.0.0/8"), parse_network("::1")],
        )
        for addr, targeted in [
            (peer("10.2.3.4"), True),
            (peer("::1"), True),
            (peer("::ffff:10.0.0.9"), True),
            (peer("127.0.0.1"), False),
            (peer("11.0.0.1"), False),
            (peer("::ffff:127.0.0.1"), False),
            (UNIXAddress("/tmp/sock"), False),
        ]:
            self.assertEqual(mix.targets(addr), targeted, addr)
        factory = make_factory(mix)
        self.assertIsInstance(factory.buildProtocol(peer("10.0.0.1")).fault, Refuse)
        served = factory.buildProtocol(peer("127.0.0.1"))
        self.assertIs(type(served), PoetryServerProtocol)

    def test_remembersHostsBounded(self) -> None:
        """
        Targeting answers are remembered per host, at most TARGET_CACHE of
        them (then forgotten), and stay right across the reset.
        """
        mix = FaultMix([(Refuse(), 1.0)], peers=[parse_network("10.0.0.0/8")])
        mix.TARGET_CACHE = 3
        hosts = ["10.0.0.1", "127.0.0.1", "10.9.9.9", "11.1.1.1", "10.0.0.1"]
        for _ in range(3):
            for host in hosts:
                self.assertEqual(mix.targets(peer(host)), host.startswith("10."), host)
                self.assertLessEqual(len(mix._targeted), 3)

    def test_untargetedConnectionsStillDraw(self) -> None:
        """
        Every accepted connection draws, targeted or not: connection k of
        the run gets mix.sequence()[k] if its client is targeted, so the
        faults of targeted clients do not depend on who else connected.
        """
        entries = [(Reset(2), 0.5)]
        mix = FaultMix(entries, seed=77, peers=[parse_network("10.0.0.0/8")])
        expected = FaultMix(entries, seed=77).sequence(100)
        factory = make_factory(mix)
        for k in range(100):
            host = "10.0.0.1" if k % 3 else "127.0.0.1"
            fault = getattr(factory.buildProtocol(peer(host, k)), "fault", None)
            self.assertEqual(fault, expected[k] if k % 3 else None, k)


class FactoryMixTests(SynchronousTestCase):
    """The factory's use of the mix."""

    def test_drawAtAcceptNotAtConnectionMade(self) -> None:
        """
        The draw happens in buildProtocol, in accept order: protocols made
        (connectionMade) in another order keep the faults of their accept.
        """
        mix = FaultMix([(Reset(1), 0.5)], seed=5)
        expected = FaultMix([(Reset(1), 0.5)], seed=5).sequence(10)
        factory = make_factory(mix)
        built = [factory.buildProtocol(peer(port=p)) for p in range(10)]
        self.assertEqual([getattr(p, "fault", None) for p in built], expected)
        self.assertEqual(mix.drawn, 10)

    def test_independentOfPoemChoice(self) -> None:
        """
        The random poem choice (--random) has its own generator: the fault
        sequence is the same with round-robin or random poems.
        """
        poems = [POEM, PoemFile("two", b"second\n"), PoemFile("three", b"third\n")]
        entries = [(Refuse(), 0.4)]
        sequences = []
        for random in [False, True]:
            factory = PoetryServerFactory(
                PoemLibrary(poems, random=random),
                mix=FaultMix(entries, seed=21),
                reactor=MemoryReactorClock(),
            )
            faults = []
            for p in range(50):
                proto = factory.buildProtocol(peer(port=p))

                proto.makeConnection(StringTransport())
                faults.append(getattr(proto, "fault", None))
            sequences.append(faults)
        self.assertEqual(sequences[0], sequences[1])

    def test_refusedConnectionsDoNotDraw(self) -> None:
        """
        A connection refused by a limit (buildProtocol returns None) never
        reaches the mix: only the accepted ones are numbered.
        """
        mix = FaultMix([(Silent(), 0.5)], seed=1)
        factory = make_factory(mix, max_connections=2)

        for p in range(2):
            factory.buildProtocol(peer(port=p)).makeConnection(StringTransport())
        self.assertIsNone(factory.buildProtocol(peer(port=9)))
        self.assertEqual(mix.drawn, 2)

    def test_setMixForNewConnectionsOnly(self) -> None:
        """
        set_mix: connections accepted afterwards draw from the new mix;
        those already made keep their protocol; set_mix(None) serves poems.
        """

        factory = make_factory(FaultMix([(Silent(), 1.0)]))
        old = factory.buildProtocol(peer())
        old.makeConnection(StringTransport())
        factory.set_mix(FaultMix([(Refuse(), 1.0)]))
        self.assertIsInstance(factory.buildProtocol(peer()).fault, Refuse)
        self.assertIsInstance(old.fault, Silent)
        self.assertIn(old, factory.live)
        factory.set_mix(None)
        self.assertIs(type(factory.buildProtocol(peer())), PoetryServerProtocol)
        self.assertIsNone(factory.fault)
        factory.fault = Stall()
        self.assertEqual(factory.mix.only, Stall())  # type: ignore[union-attr]

    def test_factoryFaultIsAMixOfOne(self) -> None:
        """fault= makes a mix of that fault at probability 1; not with mix=."""
        factory = make_factory(None, fault=Stall())
        self.assertEqual(factory.fault, Stall())
        self.assertEqual(factory.mix.entries, ((Stall(), 1.0),))  # type: ignore[union-attr]
        self.assertRaises(
            ValueError,
            PoetryServerFactory,
            PoemLibrary([POEM]),
            fault=Stall(),
            mix=FaultMix([(Stall(), 1.0)]),
            reactor=MemoryReactorClock(),
        )

    def test_accessEventNamesTheFault(self) -> None:
        """
        Each access event has a C{fault} field: the mode, as --fault spells
        it, for a connection that played one; None for one served.  The
        text says which fault.
        """

        events: list[dict[str, Any]] = []
        factory = make_factory(FaultMix([(Reset(0), 0.5)], seed=2))
        factory.access_log = Logger(observer=events.append)
        expected = FaultMix([(Reset(0), 0.5)], seed=2).sequence(20)
        for p in range(20):
            proto = factory.buildProtocol(peer(port=p))
            proto.makeConnection(StringTransport())
            lose(proto)
        self.assertEqual(
            [e["fault"] for e in events],
            [None if f is None else str(f) for f in expected],
        )
        for event in events:
            if event["fault"] is not None:
                self.assertIn("[fault reset:0]", formatEvent(event))
            else:
                self.assertNotIn("fault", formatEvent(event).split()[-1])

    def test_startUpLineLogsTheSeed(self) -> None:
        """
        The start-up line names the mix and its seed, chosen or given, so
        a run can be replayed with --seed.
        """
        events: list[dict[str, Any]] = []
        for mix, text in [
            (FaultMix([(Stall(), 1.0)], seed=5), "(fault: stall; seed 5)"),
            (FaultMix([(Reset(3), 0.5)], seed=6), "(faults: reset:3@0.5; seed 6)"),
        ]:
            stopper = GracefulStop(make_factory(mix), 1.0)
            stopper.log = Logger(observer=events.append)
            stopper.startService()

            self.assertIn(text, formatEvent(events[-1]))
        chosen = FaultMix([(Reset(3), 0.5)])
        stopper = GracefulStop(make_factory(chosen), 1.0)
        stopper.log = Logger(observer=events.append)
        stopper.startService()
        self.assertIn(f"seed {chosen.seed})", formatEvent(events[-1]))
