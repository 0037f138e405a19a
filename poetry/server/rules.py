"""
The rules a server's settings obey, each written once: the factory
(L{poetry.server.PoetryServerFactory}), the command line and the behaviour
document (L{poetry.service}) all call these, so a value one of them refuses
is refused by every other, in the same words.

Each rule takes the name the user knows the value by (C{--delay} on the
command line, C{delay} for the factory's keyword, C{faults.toml: delay} in a
file) and raises L{ConfigError}, a L{ValueError} whose message is one line.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "MIN_DELAY",
    "MIN_IDLE_TIMEOUT",
    "ConfigError",
    "check_chunk_size",
    "check_delay",
    "check_idle_timeout",
    "number",
    "positive",
]

#: Smallest accepted delay: a shorter one makes every chunk due at once,
#: so the reactor spends whole seconds writing without serving anything else.
MIN_DELAY = 0.001

#: Smallest accepted idle timeout: a shorter one cuts every connection
#: before its first byte can move.
MIN_IDLE_TIMEOUT = 0.1


class ConfigError(ValueError):
    """A configuration value breaks a rule; the message is one line."""


def number(name: str, value: Any, kind: type = float, minimum: float = 1) -> Any:
    """
    C{value} as a finite C{kind} of at least C{minimum}, or a L{ConfigError}
    naming C{name} and the rule (the same words for every way it can be
    wrong).  A C{bool} is not a number here, whatever Python says.
    """
    if kind is int:
        rule = f"a whole number >= {minimum:g}"
    else:
        rule = f"a finite number >= {minimum:g}"
    number: Any = None
    if not isinstance(value, bool):
        try:
            number = kind(value)
        except (TypeError, ValueError, OverflowError):
            number = None
        if kind is int and isinstance(value, float) and number != value:
            number = None  # 1.5 is not a whole number, whatever int() says
    if number is None or not (math.isfinite(number) and number >= minimum):
        raise ConfigError(f"{name} must be {rule}, not {value!r}")
    return number


def positive(name: str, value: Any) -> float:
    """C{value} as a positive finite number, or a L{ConfigError}."""
    result = math.nan
    if not isinstance(value, bool):
        try:
            result = float(value)
        except (TypeError, ValueError, OverflowError):
            result = math.nan
    if not (math.isfinite(result) and result > 0):
        raise ConfigError(f"{name} must be a finite number > 0, not {value!r}")
    return result


def _at_least(name: str, value: Any, minimum: float | None) -> float:
    """C{value} >= C{minimum} seconds, or merely positive without one."""
    if minimum is None:
        return positive(name, value)
    return float(number(name, value, float, minimum))


def check_delay(name: str, delay: Any, minimum: float | None = None) -> float:
    """
    Slow mode's delay: a positive finite number of seconds (the factory's
    rule), or one of at least C{minimum} (the command line's
    L{MIN_DELAY}).
    """
    return _at_least(name, delay, minimum)


def check_chunk_size(name: str, chunk_size: Any) -> int:
    """Slow mode's (and C{stall}'s) chunk size: a whole number >= 1."""
    return int(number(name, chunk_size, int, 1))


def check_idle_timeout(
    name: str,
    idle_timeout: Any,
    delay: float | None,
    delay_name: str,
    minimum: float | None = None,
) -> float:
    """
    The idle timeout: a positive finite number of seconds (at least
    C{minimum} if given: the command line's L{MIN_IDLE_TIMEOUT}), and in
    slow mode longer than the delay, since a slow connection moves data
    only every C{delay} seconds: an idle timeout equal to it would cut
    connections that are doing nothing wrong.
    """
    seconds = _at_least(name, idle_timeout, minimum)
    if delay is not None and seconds <= delay:
        raise ConfigError(
            f"{name} must be longer than {delay_name}"
            f" (slow connections move data only every {delay_name} seconds)"
        )
    return seconds
