"""
Tests for L{poetry.service.behaviour}: the one schema and validator of what
a server does (delay, chunk_size, faults, seed, fault_peers) from the
command line, from C{--faults FILE} (JSON and TOML), and applied to a
running factory; and the rules the factory and the configuration share
(L{poetry.server.rules}, issue 11).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from poetry.faults import Latency, Refuse, Reset, Slicer, Stall
from poetry.library import PoemFile, PoemLibrary
from poetry.server import PoetryServerFactory
from poetry.server.mix import parse_network
from poetry.server.rules import ConfigError
from poetry.service import ServerConfig
from poetry.service.behaviour import Behaviour, load_behaviour
from tests.helpers import lose, parse
from tests.test_process import ProcessTestCase

POEM = PoemFile("b", b"The file says what the server does.\n")
LIBRARY = PoemLibrary([POEM])


def temp_dir(case: SynchronousTestCase) -> Path:
    path = Path(tempfile.mkdtemp(prefix="poetry-behaviour-"))
    case.addCleanup(shutil.rmtree, path, True)
    return path


def file_name(key: str) -> str:
    return f"F: {key}"


class DocumentTests(SynchronousTestCase):
    """L{Behaviour.from_document}: the schema and every rule."""

    def test_everyKey(self) -> None:
        """Both shapes of a fault entry, a seed, networks; all typed."""
        behaviour = Behaviour.from_document(
            {
                "faults": [
                    "latency:0.5,0.1@0.2",
                    {"mode": "reset:100", "probability": 0.1},
                ],
                "seed": 42,
                "fault_peers": ["127.0.0.0/8", "::1"],
            }
        )
        self.assertEqual(
            behaviour.faults, ((Latency(0.5, 0.1), 0.2), (Reset(100), 0.1))
        )
        self.assertEqual(behaviour.seed, 42)
        self.assertEqual(
            behaviour.fault_peers, (parse_network("127.0.0.0/8"), parse_network("::1"))
        )
        mix = behaviour.mix()
        assert mix is not None
        self.assertEqual((mix.seed, mix.entries), (42, behaviour.faults))
        one = Behaviour.from_document({"faults": [{"mode": "slicer:10,5"}]})
        self.assertEqual(one.faults, ((Slicer(10, 5), 1.0),))
        slow = Behaviour.from_document({"delay": 0.5, "chunk_size": 3})
        self.assertEqual((slow.delay, slow.chunk_size), (0.5, 3))
        self.assertIsNone(slow.mix())
        self.assertEqual(Behaviour.from_document({}), Behaviour())

    def test_oneFaultShorthand(self) -> None:
        """
        C{"fault": "MODE"} is C{"faults": ["MODE"]} (issue 12's example);
        with C{faults} too, or not text, it is refused naming C{fault}.
        """
        self.assertEqual(
            Behaviour.from_document({"fault": "reset:100"}),
            Behaviour.from_document({"faults": ["reset:100"]}),
        )
        self.assertEqual(
            Behaviour.from_document({"fault": "reset:100"}).faults, ((Reset(100), 1.0),)
        )
        self.assertEqual(Behaviour.from_document({"fault": None}), Behaviour())
        for document, message in [
            ({"fault": "stall", "faults": []}, "fault: give fault or faults, not both"),
            ({"fault": 3}, "fault must be a text, not 3"),
        ]:
            error = self.assertRaises(ConfigError, Behaviour.from_document, document)
            self.assertEqual(str(error), message)

    def test_badDocuments(self) -> None:
        """
        Each bad value is one ConfigError line naming the key as the
        caller names it (here C{F: KEY}), for every rule.
        """
        cases: list[tuple[Any, str]] = [
            ([], "F:  must be a table"),
            ({"colour": 1}, "F: colour: unknown key"),
            ({"delay": "1"}, "F: delay must be a number, not '1'"),
            ({"delay": True}, "F: delay must be a number"),
            ({"delay": 0}, "F: delay must be a finite number >= 0.001"),
            ({"chunk_size": 2.5}, "F: chunk_size must be a whole number"),
            (
                {"chunk_size": 0, "delay": 1},
                "F: chunk_size must be a whole number >= 1",
            ),
            ({"chunk_size": 4}, "F: chunk_size needs F: delay"),
            ({"faults": "stall"}, "F: faults must be a list"),
            ({"faults": [3]}, "F: faults[1] must be a fault mode"),
            ({"faults": ["bogus"]}, "F: faults[1]: unknown fault mode 'bogus'"),
            ({"faults": ["stall", "reset:1@0.5"]}, "add up to 1.5, more than 1"),
            ({"faults": ["stall@0"]}, "PROBABILITY must be a number in (0, 1]"),
            ({"faults": ["stall@x"]}, "PROBABILITY must be a number in (0, 1]"),
            ({"faults": [{"mode": "stall", "p": 1}]}, "F: faults[1]: unknown key 'p'"),
            ({"faults": [{"probability": 1}]}, "F: faults[1].mode must be"),
            (
                {"faults": [{"mode": "stall", "probability": "1"}]},
                "F: faults[1].probability",
            ),
            (
                {"faults": [{"mode": "stall", "probability": 2}]},
                "F: faults[1].probability",
            ),
            (
                {"faults": ["stall"], "delay": 1},
                "F: delay cannot be combined with F: faults",
            ),
            ({"seed": 1}, "F: seed needs F: faults"),
            ({"seed": -1, "faults": ["stall"]}, "F: seed must be a whole number >= 0"),
            ({"seed": "1", "faults": ["stall"]}, "F: seed must be a whole number"),
            ({"fault_peers": ["10.0.0.0/8"]}, "F: fault_peers needs F: faults"),
            (
                {"fault_peers": "10/8", "faults": ["stall"]},
                "F: fault_peers must be a list",
            ),
            (
                {"fault_peers": [7], "faults": ["stall"]},
                "F: fault_peers[1] must be a network",
            ),
            (
                {"fault_peers": ["x"], "faults": ["stall"]},
                "F: fault_peers[1]: 'x' is not",
            ),
        ]
        for document, expected in cases:
            with self.assertRaises(ConfigError, msg=document) as cm:
                Behaviour.from_document(document, file_name)
            self.assertIn(expected, str(cm.exception), document)
            self.assertNotIn("\n", str(cm.exception))

    def test_chunkSizeWithStall(self) -> None:
        """chunk_size without delay is allowed when the mix has a stall."""
        behaviour = Behaviour.from_document({"chunk_size": 4, "faults": ["stall@0.5"]})
        self.assertEqual(behaviour.chunk_size, 4)

    def test_hangs(self) -> None:
        """Only a mix where every connection hangs has no default idle."""
        self.assertTrue(Behaviour.from_document({"faults": ["stall"]}).hangs)
        self.assertFalse(Behaviour.from_document({"faults": ["stall@0.5"]}).hangs)
        self.assertFalse(Behaviour().hangs)


class FileTests(SynchronousTestCase):
    """L{load_behaviour}: C{--faults FILE} in JSON or TOML."""

    def setUp(self) -> None:
        self.dir = temp_dir(self)

    def write(self, name: str, text: str) -> str:
        path = self.dir / name
        path.write_text(text, "utf-8")
        return str(path)

    def test_toml(self) -> None:
        """A TOML file, with both shapes of fault entry."""
        path = self.write(
            "mix.toml",
            'seed = 9\nfault_peers = ["127.0.0.1"]\n\n'
            '[[faults]]\nmode = "latency:0.2"\nprobability = 0.5\n\n'
            '[[faults]]\nmode = "refuse"\nprobability = 0.25\n',
        )
        behaviour = load_behaviour(path)
        self.assertEqual(behaviour.faults, ((Latency(0.2), 0.5), (Refuse(), 0.25)))
        self.assertEqual(behaviour.seed, 9)

    def test_json(self) -> None:
        """The same document in JSON."""
        path = self.write(
            "mix.json", json.dumps({"faults": ["stall@0.5"], "chunk_size": 3})
        )
        behaviour = load_behaviour(path)
        self.assertEqual(
            (behaviour.faults, behaviour.chunk_size), (((Stall(), 0.5),), 3)
        )

    def test_badFiles(self) -> None:
        """A missing, unreadable or malformed file, or a bad key: one line."""
        cases = [
            (str(self.dir / "none.json"), "cannot read it: No such file"),
            (str(self.dir), "cannot read it"),
            (self.write("a.json", "{"), "not valid JSON"),
            (self.write("a.toml", "faults = ["), "not valid TOML"),
            (self.write("b.toml", "seed = 1.5\nfaults=['stall']"), ": seed must be"),
            (
                self.write("c.json", '{"faults": ["reset:x"]}'),
                ": faults[1]: fault mode",
            ),
            (self.write("d.json", "[1]"), "must be a table"),
            (self.write("e.json", b"\xff".decode("latin-1")), "not valid JSON"),
        ]
        for path, expected in cases:
            with self.assertRaises(ConfigError, msg=path) as cm:
                load_behaviour(path)
            message = str(cm.exception)
            self.assertIn(f"--faults {path}", message)
            self.assertIn(expected, message)
            self.assertNotIn("\n", message)


class CommandLineTests(SynchronousTestCase):
    """The options that make the behaviour, through the same validator."""

    def test_mixOptions(self) -> None:
        """Several --fault MODE@P, --seed, --fault-peer make the config's mix."""
        options = parse(
            "--fault", "reset:5@0.25", "--fault", "latency:1,0.5@0.5",
            "--seed", "17", "--fault-peer", "10.0.0.0/8", "--fault-peer", "::1",
            "--port", "tcp:0:interface=127.0.0.1",
        )  # fmt: skip
        config = options.config
        self.assertEqual(config.faults, ((Reset(5), 0.25), (Latency(1, 0.5), 0.5)))
        self.assertIsNone(config.fault)
        self.assertEqual(config.seed, 17)
        self.assertEqual(len(config.fault_peers), 2)
        factory = config.build_factory(MemoryReactorClock())
        assert factory.mix is not None
        self.assertEqual(factory.mix.seed, 17)
        self.assertEqual(factory.mix.entries, config.faults)
        # a mix that serves poems keeps the default idle timeout
        self.assertEqual(config.idle_timeout, PoetryServerFactory.DEFAULT_IDLE_TIMEOUT)
        self.assertIsNone(parse("--fault", "stall@0.5", "--fault", "silent@0.5")
                          .config.idle_timeout)  # fmt: skip

    def test_faultsFile(self) -> None:
        """--faults FILE gives the config its behaviour."""
        path = temp_dir(self) / "f.json"
        path.write_text(json.dumps({"faults": ["refuse@0.5"], "seed": 3}))
        config = parse("--faults", str(path)).config
        self.assertEqual((config.faults, config.seed), (((Refuse(), 0.5),), 3))

    def test_badOptions(self) -> None:
        """One line naming the option, for every rule."""
        path = temp_dir(self) / "f.json"
        path.write_text("{}")
        cases: list[tuple[list[str], str]] = [
            (["--fault", "stall@2"], "--fault 'stall@2': PROBABILITY must be"),
            (["--fault", "stall@0.6", "--fault", "silent@0.6"], "add up to 1.2"),
            (["--fault", "stall", "--fault", "silent"], "add up to 2"),
            (["--seed", "5"], "--seed needs --fault"),
            (["--seed", "x", "--fault", "stall"], "--seed must be a whole number"),
            (["--fault-peer", "10.0.0.0/8"], "--fault-peer needs --fault"),
            (["--fault-peer", "nope", "--fault", "stall"], "--fault-peer: 'nope'"),
            (["--faults", str(path), "--fault", "stall"], "give --fault there"),
            (["--faults", str(path), "--delay", "1"], "give --delay there"),
            (["--faults", str(path) + "x"], "cannot read it"),
        ]
        for argv, expected in cases:
            with self.assertRaises(UsageError, msg=argv) as cm:
                parse(*argv)
            self.assertIn(expected, str(cm.exception), argv)
            self.assertNotIn("\n", str(cm.exception))


class ApplyTests(SynchronousTestCase):
    """L{Behaviour.apply_to}: a running factory, from then on."""

    def test_newMixForNewConnections(self) -> None:
        """Connections made before keep their fault; new ones draw anew."""
        factory = PoetryServerFactory(
            LIBRARY, fault=Stall(), reactor=MemoryReactorClock()
        )
        old = factory.buildProtocol(None)
        old.makeConnection(StringTransport())
        Behaviour.from_document({"faults": ["refuse"], "seed": 4}).apply_to(factory)
        self.assertEqual(factory.mix.seed, 4)  # type: ignore[union-attr]
        self.assertIsInstance(factory.buildProtocol(None).fault, Refuse)
        self.assertIsInstance(old.fault, Stall)
        Behaviour().apply_to(factory)
        self.assertIsNone(factory.mix)

    def test_pacingChangesOnlyWhenNoSlowConnection(self) -> None:
        """
        delay and chunk_size change while no slow connection is in flight;
        with one, nothing changes and the error says why.
        """
        clock = MemoryReactorClock()
        factory = PoetryServerFactory(LIBRARY, delay=1.0, reactor=clock)
        slow = factory.buildProtocol(None)
        slow.makeConnection(StringTransport())
        with self.assertRaises(ConfigError) as cm:
            Behaviour(delay=2.0).apply_to(factory)
        self.assertIn("in flight", str(cm.exception))
        self.assertEqual(factory.delay, 1.0)
        lose(slow)
        Behaviour(delay=2.0, chunk_size=3).apply_to(factory)
        self.assertEqual((factory.delay, factory.chunk_size), (2.0, 3))
        self.assertEqual(factory.schedule.delay, 2.0)

    def test_idleRuleHolds(self) -> None:
        """A delay not shorter than the factory's idle timeout is refused."""
        factory = PoetryServerFactory(
            LIBRARY, idle_timeout=2.0, reactor=MemoryReactorClock()
        )
        for delay in [2.0, 3.0]:
            self.assertRaises(ConfigError, Behaviour(delay=delay).apply_to, factory)
        self.assertIsNone(factory.delay)


class SharedRulesTests(SynchronousTestCase):
    """
    Issue 11: the factory and the configuration apply one implementation
    of each rule (L{poetry.server.rules}), with the same words.
    """

    def test_idleTimeoutEqualToDelay(self) -> None:
        """
        An idle timeout equal to the delay is refused by the factory, by a
        ServerConfig and by the command line (a slow connection moves data
        only every delay seconds); a little longer is accepted by each.
        """
        clock = MemoryReactorClock()
        with self.assertRaises(ValueError) as cm:
            PoetryServerFactory(LIBRARY, delay=2.0, idle_timeout=2.0, reactor=clock)
        self.assertIn("idle_timeout must be longer than delay", str(cm.exception))
        with self.assertRaises(ConfigError) as cm2:
            ServerConfig(LIBRARY, delay=2.0, idle_timeout=2.0)
        self.assertIn("--idle-timeout must be longer than --delay", str(cm2.exception))
        self.assertRaises(UsageError, parse, "--delay", "2", "--idle-timeout", "2")
        PoetryServerFactory(LIBRARY, delay=2.0, idle_timeout=2.001, reactor=clock)
        ServerConfig(LIBRARY, delay=2.0, idle_timeout=2.001)
        self.assertEqual(
            parse("--delay", "2", "--idle-timeout", "2.001").config.idle_timeout, 2.001
        )

    def test_sameWords(self) -> None:
        """
        The factory's refusals use the rule's words, with its keyword's
        name, as the command line's use the option's.
        """
        clock = MemoryReactorClock()
        for kw, factory_words, argv, option_words in [
            ({"delay": 0}, "delay must be a finite number > 0",
             ["--delay", "0"], "--delay must be a finite number >= 0.001"),
            ({"chunk_size": 0}, "chunk_size must be a whole number >= 1",
             ["--delay", "1", "--chunk-size", "0"],
             "--chunk-size must be a whole number >= 1"),
            ({"idle_timeout": -1}, "idle_timeout must be a finite number > 0",
             ["--idle-timeout", "-1"], "--idle-timeout must be a finite number >= 0.1"),
            ({"delay": float("nan")}, "delay must be a finite number > 0",
             ["--delay", "nan"], "--delay must be a finite number"),
        ]:  # fmt: skip
            with self.assertRaises(ValueError) as cm:
                PoetryServerFactory(LIBRARY, reactor=clock, **kw)
            self.assertIn(factory_words, str(cm.exception))
            with self.assertRaises(UsageError) as cm2:
                parse(*argv)
            self.assertIn(option_words, str(cm2.exception))


class FaultsFileProcessTests(ProcessTestCase):
    """twistd with a bad --faults file: one line, exit 1, nothing listens."""

    async def test_badFileBeforeListening(self) -> None:
        """
        A file with a bad key: stderr is one line naming the file and the
        key, the status is 1, and the port was never listened on.
        """
        bad = self.tmp / "bad.toml"
        bad.write_text('faults = ["reset:100@1.5"]\n')
        out, err, code = await self.runCommand(
            "twistd",
            "-n",
            "--pidfile=",
            "poetry",
            "--port",
            "tcp:0",
            "--faults",
            str(bad),
        )
        self.assertEqual(code, 1)
        lines = (out + err).strip().splitlines()
        self.assertEqual(len(lines), 1, lines)
        self.assertIn(f"--faults {bad}: faults[1]", lines[0])
        self.assertIn("PROBABILITY must be a number in (0, 1]", lines[0])
        self.assertNotIn("listening", out + err)
        self.assertNotIn("Traceback", out + err)
