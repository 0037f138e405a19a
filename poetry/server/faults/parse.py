"""
C{--fault} values: L{parse_fault} turns C{MODE[:ARGUMENTS]} into a L{Fault},
from one table (L{_MODES}) that also gives the help text (L{MODES}).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from poetry.server.faults.base import Fault
from poetry.server.faults.closing import Refuse, Truncate
from poetry.server.faults.hanging import Silent, Stall
from poetry.server.faults.paced import Bandwidth, Latency, Slicer, SlowClose
from poetry.server.faults.producing import Endless, Garbage, Reset

__all__ = ["MODES", "parse_fault"]


def _bytes(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() else None


def _rate(text: str) -> int | None:
    n = _bytes(text)
    return n if n is not None and n >= 1 else None


def _seconds(text: str) -> float | None:
    try:
        x = float(text)
    except ValueError:
        return None
    return x if math.isfinite(x) and x >= 0 and text.isascii() else None


_RULES: dict[Callable[[str], Any], str] = {
    _bytes: "a whole number >= 0",
    _rate: "a whole number >= 1",
    _seconds: "a finite number >= 0",
}

_Arguments = list[tuple[str, Callable[[str], Any]]]

#: Each mode: its class, its arguments (name, parser), how many are needed,
#: and an example for the message when they are missing.
_MODES: dict[str, tuple[type[Fault], _Arguments, int, str]] = {
    "stall": (Stall, [], 0, ""),
    "reset": (Reset, [("BYTES", _bytes)], 1, "a byte count, like reset:100"),
    "silent": (Silent, [], 0, ""),
    "endless": (Endless, [], 0, ""),
    "refuse": (Refuse, [], 0, ""),
    "latency": (
        Latency,
        [("SECONDS", _seconds), ("JITTER", _seconds)],
        1,
        "seconds, like latency:0.5 or latency:0.5,0.1",
    ),
    "bandwidth": (
        Bandwidth,
        [("BYTES_PER_SECOND", _rate)],
        1,
        "a rate in bytes per second, like bandwidth:1000",
    ),
    "slicer": (
        Slicer,
        [("AVERAGE", _rate), ("VARIATION", _bytes), ("DELAY", _seconds)],
        1,
        "a write size, like slicer:10 or slicer:10,5,0.01",
    ),
    "slow-close": (
        SlowClose,
        [("SECONDS", _seconds)],
        1,
        "seconds, like slow-close:5",
    ),
    "truncate": (Truncate, [("BYTES", _bytes)], 1, "a byte count, like truncate:100"),
    "garbage": (Garbage, [("BYTES", _bytes)], 1, "a byte count, like garbage:100"),
}


def _spelled(name: str) -> str:
    _, arguments, needed, _ = _MODES[name]
    if not arguments:
        return name
    text = name + ":" + arguments[0][0]
    optional = ""
    for argument, _ in reversed(arguments[needed:]):
        optional = f"[,{argument}{optional}]"
    return text + optional


#: The modes C{--fault} accepts, as its help and error messages spell them.
MODES = ", ".join(_spelled(name) for name in _MODES)


def parse_fault(text: str) -> Fault:
    """
    Parse a C{--fault} mode: C{stall}, C{reset:BYTES}, C{silent},
    C{endless}, C{refuse}, C{latency:SECONDS[,JITTER]},
    C{bandwidth:BYTES_PER_SECOND}, C{slicer:AVERAGE[,VARIATION[,DELAY]]},
    C{slow-close:SECONDS}, C{truncate:BYTES} or C{garbage:BYTES} (case and
    surrounding blanks ignored).

    @raise ValueError: with a one-line message quoting the value, for an
        unknown mode, a missing or extra argument, or an argument that
        breaks its rule.
    """
    spec = text.strip().lower()
    name, colon, argument_text = spec.partition(":")
    entry = _MODES.get(name.strip())
    if entry is None or (colon and not entry[1]):
        raise ValueError(f"unknown fault mode {text!r} (expected {MODES})")
    kind, arguments, _, example = entry
    if not arguments:
        return kind()
    if not colon:
        raise ValueError(f"fault mode {text!r} needs {example}")
    words = [w.strip() for w in argument_text.split(",")]
    if len(words) > len(arguments):
        raise ValueError(
            f"fault mode {text!r}: too many arguments (expected {_spelled(name)})"
        )
    values = []
    for (argument, parse), word in zip(arguments, words, strict=False):
        value = parse(word)
        if value is None:
            raise ValueError(
                f"fault mode {text!r}: {argument} must be {_RULES[parse]}, not {word!r}"
            )
        values.append(value)
    try:
        return kind(*values)
    except ValueError as e:
        raise ValueError(f"fault mode {text!r}: {e}") from None
