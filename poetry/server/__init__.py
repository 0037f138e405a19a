"""
The poetry server: the protocols that serve one connection each, and the
factory that holds what connections share.

  - L{poetry.server.base}: L{BaseServerProtocol}, the one owner of a
    connection's accounting (what it wrote, how it ended).
  - L{poetry.server.protocol}: L{PoetryServerProtocol}, the poem protocol,
    fast or slow, under an optional idle timeout, half-close aware, with a
    lingering close.
  - L{poetry.server.faults}: one protocol class per fault mode, and
    L{parse_fault}.
  - L{poetry.server.factory}: L{PoetryServerFactory}.
  - L{poetry.server.schedule}: slow mode's single-timer L{SlowSchedule};
    L{poetry.server.deadlines}: fixed-duration timeouts on one timer, and
    the one idle-timeout mechanism every server protocol uses.
  - L{poetry.server.accesslog}: the access-log event, one per connection.
  - L{poetry.server.outcome}: L{ConnectionOutcome}, how a connection ended.

Fast mode writes the poem and closes the connection; a poem larger than
L{PoetryServerProtocol.STREAM_CHUNK} is streamed by a pull producer so a
client that does not read never makes the server buffer the whole poem.

Slow mode sends C{chunk_size} bytes every C{delay} seconds.  Instead of one
C{callLater} per connection per chunk, the factory keeps every slow
connection in one L{SlowSchedule}: absolute due times, kept in order, served
by a single timer, so all connections that are due are written in one reactor
call and lateness never accumulates (each due time is the previous one plus
C{delay}, not "now" plus C{delay}).

The lifecycle trace shows how connections interleave on the server: with
C{trace_lifecycle} set, each connection logs C{connectionMade} (namespace
L{LIFECYCLE_NAMESPACE}) and its access-log event also says why the
connection was lost and whether cleanly; with C{trace_chunks} set, each
slow-mode chunk is logged too, at debug level.  Every such event carries a
C{lifecycle} field naming the callback.  When both flags are off (fast mode's
default) no event is built: one boolean test per connection.
"""

from poetry.addresses import format_address
from poetry.server.accesslog import (
    ACCESS_FORMAT,
    ACCESS_NAMESPACE,
    LIFECYCLE_NAMESPACE,
)
from poetry.server.base import BaseServerProtocol
from poetry.server.deadlines import Deadlines
from poetry.server.factory import PoetryServerFactory, default_idle_timeout
from poetry.server.outcome import ConnectionOutcome
from poetry.server.protocol import PoetryServerProtocol
from poetry.server.schedule import SlowSchedule

__all__ = [
    "ACCESS_FORMAT",
    "ACCESS_NAMESPACE",
    "LIFECYCLE_NAMESPACE",
    "BaseServerProtocol",
    "ConnectionOutcome",
    "Deadlines",
    "PoetryServerFactory",
    "PoetryServerProtocol",
    "SlowSchedule",
    "default_idle_timeout",
    "format_address",
]
