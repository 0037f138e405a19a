"""
What a server does with each connection, as one document: the behaviour
(C{delay}, C{chunk_size}, C{faults}, C{seed}, C{fault_peers}), with ONE
schema and ONE validator (L{Behaviour.from_document}) for every way it
arrives: the command line's words (L{Behaviour.from_words}), a C{--faults
FILE} in JSON or TOML (L{load_behaviour}), and an admin API's
C{PUT /api/behaviour} (which validates its body with
L{Behaviour.from_document} and applies it with L{Behaviour.apply_to}).

The document, in TOML::

    delay = 0.5            # seconds between chunks (slow mode); omit: fast
    chunk_size = 10        # bytes per chunk (slow mode, stall)
    seed = 42              # the fault mix's seed; omit: chosen and logged
    fault_peers = ["127.0.0.0/8", "::1"]   # only these clients get faults
    faults = ["latency:0.5,0.1@0.2", "reset:100@0.1"]
    # or, one table per fault:
    # [[faults]]
    # mode = "slicer:10,5"
    # probability = 0.25

and the same keys in a JSON object.  A fault without C{@PROBABILITY} (or
without C{probability}) has probability 1.  Every key is optional; any
other key is an error.  A bad value is one L{ConfigError} line naming the
key (C{--faults FILE: faults[2]: ...}), raised before anything listens.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poetry.faults import Fault, Stall, parse_fault
from poetry.server import PoetryServerFactory
from poetry.server.mix import FaultMix, Network, parse_network
from poetry.server.rules import (
    MIN_DELAY,
    ConfigError,
    check_chunk_size,
    check_delay,
    check_idle_timeout,
    number,
)

__all__ = ["KEYS", "Behaviour", "load_behaviour"]

#: The document's keys, each with the command-line option that sets it.
KEYS = {
    "delay": "--delay",
    "chunk_size": "--chunk-size",
    "faults": "--fault",
    "seed": "--seed",
    "fault_peers": "--fault-peer",
}

#: What a JSON or TOML value must be, per key (the command line gives text).
_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "delay": ((int, float), "a number"),
    "chunk_size": ((int,), "a whole number"),
    "seed": ((int,), "a whole number"),
    "faults": ((list,), "a list"),
    "fault_peers": ((list,), "a list"),
}


def _one_fault(
    document: Mapping[str, Any], name: Callable[[str], str], typed: bool
) -> dict[str, Any]:
    """
    C{document} with its shorthand C{"fault": "MODE"} (one fault, every
    connection) written out as C{"faults": ["MODE"]}.
    """
    if "faults" in document:
        raise ConfigError(f"{name('fault')}: give fault or faults, not both")
    result = {k: v for k, v in document.items() if k != "fault"}
    one = document["fault"]
    if one is not None:
        if typed and not isinstance(one, str):
            raise ConfigError(f"{name('fault')} must be a text, not {one!r}")
        result["faults"] = [one]
    return result


def _fault_entry(name: str, entry: Any) -> tuple[Fault, float]:
    """One entry of C{faults}: C{"MODE[@P]"} or C{{mode, probability}}."""
    if isinstance(entry, Mapping):
        unknown = sorted(set(entry) - {"mode", "probability"})
        if unknown:
            raise ConfigError(f"{name}: unknown key {unknown[0]!r}")
        if not isinstance(entry.get("mode"), str):
            raise ConfigError(f"{name}.mode must be a fault mode, like 'reset:100'")
        mode, probability = entry["mode"], entry.get("probability", 1.0)
        if isinstance(probability, bool) or not isinstance(probability, int | float):
            raise ConfigError(
                f"{name}.probability must be a number in (0, 1], not {probability!r}"
            )
        where = f"{name}.probability"
    elif isinstance(entry, str):
        mode, at, given = entry.rpartition("@")
        if not at:
            mode, given = given, "1"
        probability = given
        where = f"{name} {entry!r}: PROBABILITY"
    else:
        raise ConfigError(f"{name} must be a fault mode (text), not {entry!r}")
    try:
        fault = parse_fault(mode)
    except ValueError as e:
        raise ConfigError(f"{name}: {e}") from None
    try:
        p = float(probability)
    except ValueError:
        p = -1.0
    if not (0 < p <= 1):
        raise ConfigError(f"{where} must be a number in (0, 1], not {probability!r}")
    return fault, p


@dataclass(frozen=True)
class Behaviour:
    """
    What the server does with each connection, every value checked.

    @ivar delay: seconds between slow-mode chunks; L{None}: fast mode.
    @ivar chunk_size: bytes per slow-mode (and C{stall}) chunk.
    @ivar faults: the fault mix's C{(fault, probability)} pairs.
    @ivar seed: the mix's seed (L{None}: chosen when the mix is built).
    @ivar fault_peers: the networks whose clients get faults (empty: all).
    """

    delay: float | None = None
    chunk_size: int = PoetryServerFactory.DEFAULT_CHUNK_SIZE
    faults: tuple[tuple[Fault, float], ...] = ()
    seed: int | None = None
    fault_peers: tuple[Network, ...] = ()

    @classmethod
    def from_document(
        cls, document: Any, name: Callable[[str], str] = str, typed: bool = True
    ) -> Behaviour:
        """
        The one validator: check C{document} (a mapping of L{KEYS} to
        values) against every rule and build the L{Behaviour}.

        @param name: how a message names a key (C{--delay} for the command
            line, C{FILE: delay} for a file).
        @param typed: whether values must have their JSON types (a file, an
            API body); the command line's are text.
        @raise ConfigError: the first bad value, one line naming its key.
        """
        if not isinstance(document, Mapping):
            raise ConfigError(f"{name('')} must be a table of {', '.join(KEYS)}")
        if "fault" in document:
            document = _one_fault(document, name, typed)
        unknown = sorted(set(document) - set(KEYS))
        if unknown:
            raise ConfigError(
                f"{name(unknown[0])}: unknown key (expected {', '.join(KEYS)})"
            )
        values = {k: v for k, v in document.items() if v is not None}
        if typed:
            for key, value in values.items():
                types, words = _TYPES[key]
                if isinstance(value, bool) or not isinstance(value, types):
                    raise ConfigError(f"{name(key)} must be {words}, not {value!r}")
        delay = None
        if "delay" in values:
            delay = check_delay(name("delay"), values["delay"], MIN_DELAY)
        faults = tuple(
            _fault_entry(f"{name('faults')}[{i}]" if typed else name("faults"), entry)
            for i, entry in enumerate(values.get("faults", ()), 1)
        )
        total = sum(p for _, p in faults)
        if total > 1 + 1e-9:
            raise ConfigError(
                f"{name('faults')}: the probabilities add up to {total:g}, more than 1"
            )
        if delay is not None and faults:
            raise ConfigError(
                f"{name('delay')} cannot be combined with {name('faults')}"
            )
        chunk_size = PoetryServerFactory.DEFAULT_CHUNK_SIZE
        if "chunk_size" in values:
            chunk_size = check_chunk_size(name("chunk_size"), values["chunk_size"])
            if delay is None and not any(isinstance(f, Stall) for f, _ in faults):
                raise ConfigError(
                    f"{name('chunk_size')} needs {name('delay')} (slow mode)"
                    f" or {name('faults')} stall"
                )
        seed = None
        if "seed" in values:
            seed = number(name("seed"), values["seed"], int, 0)
            if not faults:
                raise ConfigError(f"{name('seed')} needs {name('faults')}")
        peers = []
        for i, text in enumerate(values.get("fault_peers", ()), 1):
            where = f"{name('fault_peers')}[{i}]" if typed else name("fault_peers")
            if not isinstance(text, str):
                raise ConfigError(f"{where} must be a network (text), not {text!r}")
            try:
                peers.append(parse_network(text))
            except ValueError as e:
                raise ConfigError(f"{where}: {e}") from None
        if peers and not faults:
            raise ConfigError(f"{name('fault_peers')} needs {name('faults')}")
        return cls(delay, chunk_size, faults, seed, tuple(peers))

    @classmethod
    def from_words(cls, words: Mapping[str, Any]) -> Behaviour:
        """
        The behaviour the command line gives (C{delay}, C{chunk-size},
        C{fault_specs}: the list of C{--fault} values, C{seed},
        C{fault_peers}: the list of C{--fault-peer} values, each as the
        user wrote it or L{None}), through the same
        validator, each key named by its option.
        """
        faults = words.get("fault_specs") or None
        peers = words.get("fault_peers") or None
        return cls.from_document(
            {
                "delay": words.get("delay"),
                "chunk_size": words.get("chunk-size"),
                "faults": faults,
                "seed": words.get("seed"),
                "fault_peers": peers,
            },
            KEYS.__getitem__,
            typed=False,
        )

    @classmethod
    def of(cls, factory: PoetryServerFactory) -> Behaviour:
        """
        The behaviour a running C{factory} has now (its delay, chunk size
        and fault mix, with the seed the mix drew from): what
        L{apply_to} would give it.
        """
        mix = factory.mix
        if mix is None:
            return cls(factory.delay, factory.chunk_size)
        return cls(factory.delay, factory.chunk_size, mix.entries, mix.seed, mix.peers)

    def as_document(self) -> dict[str, Any]:
        """
        This behaviour as the document L{from_document} reads back to an
        equal L{Behaviour}: every key of L{KEYS}, C{null} (or C{[]}) where
        unset; C{chunk_size} only where it applies (slow mode, C{stall});
        each fault as C{"MODE"} or C{"MODE@PROBABILITY"}.
        """
        paced = self.delay is not None or any(
            isinstance(f, Stall) for f, _ in self.faults
        )
        return {
            "delay": self.delay,
            "chunk_size": self.chunk_size if paced else None,
            "faults": [str(f) if p == 1 else f"{f}@{p!r}" for f, p in self.faults],
            "seed": self.seed if self.faults else None,
            "fault_peers": [str(network) for network in self.fault_peers],
        }

    @property
    def hangs(self) -> bool:
        """Whether every connection hangs on purpose (see L{FaultMix.hangs})."""
        total = sum(p for _, p in self.faults)
        return (
            bool(self.faults)
            and total >= 1 - 1e-9
            and all(f.hangs for f, _ in self.faults)
        )

    def mix(self) -> FaultMix | None:
        """A new L{FaultMix} of these faults (L{None} without faults)."""
        if not self.faults:
            return None
        return FaultMix(self.faults, seed=self.seed, peers=self.fault_peers)

    def apply_to(self, factory: PoetryServerFactory) -> None:
        """
        Make a running C{factory} behave so for the connections it accepts
        from now on: a new fault mix (connection numbers start again at 0
        with this seed), and the delay and chunk size.  A slow connection
        in flight follows its factory's schedule, so the delay and chunk
        size can change only while none is in flight.

        @raise ConfigError: the factory's idle timeout is not longer than
            the new delay, or slow connections are in flight; nothing
            changed.
        """
        if factory.idle_timeout is not None and self.delay is not None:
            check_idle_timeout(
                "the server's idle timeout", factory.idle_timeout, self.delay, "delay"
            )
        pacing = (self.delay, self.chunk_size)
        if pacing != (factory.delay, factory.chunk_size):
            if len(factory.schedule):
                raise ConfigError(
                    f"delay and chunk_size cannot change while"
                    f" {len(factory.schedule)} slow connections are in flight"
                )
            factory.delay, factory.chunk_size = pacing
            factory.schedule.delay = self.delay or 1.0
        factory.set_mix(self.mix())


def load_behaviour(path: str) -> Behaviour:
    """
    The behaviour declared in the file at C{path}: TOML if its name ends in
    C{.toml}, else JSON, checked by L{Behaviour.from_document}.

    @raise ConfigError: the file cannot be read or parsed, or a value is
        bad: one line naming the file and the key.
    """
    where = f"--faults {path}"
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ConfigError(f"{where}: cannot read it: {e.strerror}") from None
    try:
        if path.lower().endswith(".toml"):
            document: Any = tomllib.loads(data.decode("utf-8"))
        else:
            document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        kind = "TOML" if path.lower().endswith(".toml") else "JSON"
        detail = " ".join(str(e).split())
        raise ConfigError(f"{where}: not valid {kind}: {detail}") from None
    return Behaviour.from_document(
        document, lambda key: f"{where}: {key}" if key else where
    )
