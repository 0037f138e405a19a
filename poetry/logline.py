"""
How a text log line is made, as twistd writes it: the line's head
(L{LineHeads}: timestamp and C{[namespace#level]} or C{[system]}, kept for
the second) and the rendering of its format (L{line_format}), decided once
per format, which give the same text as C{formatEventAsClassicLogText}.
L{poetry.logfile.BufferedFileLogObserver} puts them together.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from operator import itemgetter
from string import Formatter
from typing import Any

from twisted.logger import LogEvent, LogLevel, formatTime

__all__ = ["LineHeads", "Rendering", "line_format", "positional_format"]

_FORMATTER = Formatter()

#: The name a format field looks up: what str.format reads up to the
#: first attribute (C{.}) or index (C{[}).
_FIELD_NAME = re.compile(r"[^.\[]*")


class LineHeads:
    """
    The heads of L{BufferedFileLogObserver}'s lines (C{"{stamp} [{system}]
    "}, newlines indented, as C{formatEventAsClassicLogText} writes them)
    and whether their events wait, computed once per second: the
    timestamp of the second, the head of the last namespace and level
    (its attributes read by the observer itself: a call costs more than
    the whole check) and the head of the last C{log_system}.

    @ivar head: the last namespace and level's head, for events at
        C{[start, end)} of C{namespace} and C{level}; C{buffered}: whether
        they wait.
    """

    def __init__(self, time_format: str | None, namespaces: frozenset[str]) -> None:
        """
        @param time_format: the timestamps' C{strftime} format, to the
            second.
        @param namespaces: the namespaces whose events wait.
        """
        self.time_format = time_format
        self.namespaces = namespaces
        # The timestamp of the second [_second, _second_end).
        self._second = self._second_end = 0.0
        self._stamp = ""
        self.head, self.buffered = "", False
        self.start = self.end = 0.0
        self.namespace: object = None
        self.level: object = None
        self._system = ""
        self._system_head = ""
        self._system_start = self._system_end = 0.0

    def format_time(self, when: float | None) -> str:
        """C{formatTime}, computed once per second (its resolution)."""
        if when is None or self.time_format is None:
            return formatTime(when, self.time_format)
        if not self._second <= when < self._second_end:
            # floor, not int: -0.5 is in the second that began at -1.
            second = math.floor(when)
            self._stamp = formatTime(second, self.time_format)
            self._second, self._second_end = float(second), float(second + 1)
        return self._stamp

    def head_for(
        self, when: float | None, namespace: object, level: Any
    ) -> tuple[str, bool]:
        """
        The head of an event at C{when} of C{namespace} and C{level}
        (C{[namespace#level]}) and whether it waits; kept for the rest of
        the second if C{namespace} is a L{str} and C{level} a L{LogLevel}.
        """
        stamp = self.format_time(when)
        name = "-" if level is None else level.name
        head = f"{stamp} [{namespace}#{name}] ".replace("\n", "\n\t")
        buffered = namespace in self.namespaces
        # Only for these, whose text never changes: another namespace's
        # format() or another level's name may.
        if (
            when is not None
            and type(namespace) is str
            and any(level is known for known in _LEVELS)
        ):
            self.head, self.buffered = head, buffered
            self.start, self.end = self._second, self._second_end
            self.namespace, self.level = namespace, level
        return head, buffered

    def system_head(
        self, when: float | None, system: object, namespace: object, level: Any
    ) -> tuple[str, bool]:
        """
        The head of an event at C{when} of C{system} (its C{log_system}, as
        a worker's events have: C{[system]}; L{None} is none), C{namespace}
        and C{level}, and whether it waits; the last L{str} C{system}'s
        is kept for the rest of its second.
        """
        if system is None:
            return self.head_for(when, namespace, level)
        buffered = namespace in self.namespaces
        if type(system) is str:
            if (
                system == self._system
                and when is not None
                and self._system_start <= when < self._system_end
            ):
                return self._system_head, buffered
        else:
            try:
                system = str(system)
            except Exception:
                system = "UNFORMATTABLE"  # as twisted.logger shows it
        head = f"{self.format_time(when)} [{system}] ".replace("\n", "\n\t")
        if when is not None and type(system) is str:
            self._system, self._system_head = system, head
            self._system_start, self._system_end = self._second, self._second_end
        return head, buffered


#: Every log level: a line's head is kept only for these (and no level),
#: whose names never change.
_LEVELS: tuple[LogLevel | None, ...] = (None, *LogLevel.iterconstants())


#: How L{BufferedFileLogObserver} renders the text of a format: C{(render,
#: fields)}: C{render(*fields(event))} (a positional format and the
#: getter of its values), C{render(event)} (C{fields} L{None}: the format's
#: own C{format_map}), or (L{None}, L{None}): twisted.logger's formatter.
Rendering = tuple[
    Callable[..., str] | None, Callable[[LogEvent], tuple[Any, ...]] | None
]


def positional_format(fmt: str) -> tuple[str, tuple[str, ...]] | None:
    """
    C{fmt}, a PEP 3101 format of named fields, as a format of automatically
    numbered ones and the names of their values, in order: C{"{peer}
    {seconds:.3f}"} is C{("{} {:.3f}", ("peer", "seconds"))}, and
    C{template.format(*(event[name] for name in names))} is
    C{fmt.format_map(event)} for any event (each field keeps its
    attributes, index, conversion and spec, formatted by the same
    C{format()}; only the lookup of the name moves, and an exception
    raised either way is raised the other way too).

    L{None} when C{fmt} cannot be parsed, or has a field that is
    positional (C{{}}, C{{0}}), has a nested field in its spec, or
    reaches anything else by a name (C{{a[{b}]}}).
    """
    parts = []
    names = []
    try:
        parsed = list(_FORMATTER.parse(fmt))
    except ValueError:
        return None
    for literal, field, spec, conversion in parsed:
        parts.append(literal.replace("{", "{{").replace("}", "}}"))
        if field is None:
            continue
        name = _FIELD_NAME.match(field).group()  # type: ignore[union-attr]
        if not name or name.isdecimal() or "{" in field or "{" in (spec or ""):
            return None
        names.append(name)
        parts.append("{" + field[len(name) :])
        if conversion is not None:
            parts.append("!" + conversion)
        if spec:
            parts.append(":" + spec)
        parts.append("}")
    return "".join(parts), tuple(names)


def line_format(fmt: str) -> Rendering:
    """
    How L{BufferedFileLogObserver} renders the text of events of C{fmt}
    (see L{Rendering}) so it is the text C{twisted.logger}'s formatter
    gives (C{formatEvent}: C{string.Formatter}, each value wrapped in a
    C{PotentialCallWrapper} for the C{{name()}} call syntax):

      - a format with a call (C{"()"}) or an attribute of a name
        beginning with C{_} (the wrapper's own, such as C{__class__}; any
        C{"._"} in the format, to be sure): C{twisted.logger}'s formatter;
      - a format of two fields or more that L{positional_format}
        translates: that format's C{format} and an C{itemgetter} of its
        names (a third less than C{format_map}, which slices and hashes
        each field's name anew for every event);
      - any other: C{fmt.format_map} (a format it fails, such as one
        with a positional field, goes on to C{twisted.logger}'s formatter
        at each event).
    """
    if "()" in fmt or "._" in fmt:
        return None, None
    positional = positional_format(fmt)
    if positional is None or len(positional[1]) < 2:
        return fmt.format_map, None
    template, names = positional
    return template.format, itemgetter(*names)
