"""
Server fault modes: ways the poetry server misbehaves on purpose, so that
clients (ours and others) can be tested against every failure a real server
can produce.  C{twistd -n poetry --fault MODE} gives every connection one
mode; several C{--fault MODE@PROBABILITY} form a mix from which each
connection draws at most one (L{poetry.server.mix.FaultMix}).

Each mode is a protocol class on the server's accounting base
(L{poetry.server.BaseServerProtocol}) that misbehaves instead of serving
its poem, and a small L{Fault} value (what C{--fault} parses to, with the
mode's parameters) that builds it for one connection:

  - L{poetry.server.faults.hanging}: C{stall} (the first C{--chunk-size}
    bytes, then nothing), C{silent} (nothing).
  - L{poetry.server.faults.producing}: C{reset:BYTES} (BYTES bytes, then a
    TCP reset), C{endless} (the poem for ever, as fast as the client
    reads), C{garbage:BYTES} (bytes that are not UTF-8, then a clean
    close).
  - L{poetry.server.faults.closing}: C{refuse} (a clean close, nothing
    sent), C{truncate:BYTES} (the first BYTES bytes, then a clean close:
    the truncation this protocol cannot reveal).
  - L{poetry.server.faults.paced}: C{latency:SECONDS[,JITTER]},
    C{bandwidth:BYTES_PER_SECOND}, C{slicer:AVERAGE[,VARIATION[,DELAY]]},
    C{slow-close:SECONDS}: the whole poem, late, slowly, in pieces, or
    followed by a wait before the close.
  - L{poetry.server.faults.parse}: L{parse_fault} and L{MODES}.

Whatever the mode, every connection stays in the factory's C{live} set, so
graceful shutdown (C{drain}/C{cut_all}) and C{--idle-timeout} cut the ones
that would otherwise never end.  A client's half-close changes nothing for
the modes that send; every cut before the last byte is a reset; the modes
that end cleanly half-close and linger as the poem protocol does.  Every
mode that writes more than one chunk writes only when the transport's
buffer has drained (a pull producer), or paces itself on a timer, so a
client that does not read never makes the server buffer more than one
L{CHUNK} beyond the poem.

To add a mode: a protocol class on L{FaultProtocol} (or
L{CleanCloseFaultProtocol} / L{StreamingFaultProtocol} if it ends with a
clean close) in the module whose kind it is, a L{Fault} subclass naming
it, its entry in L{poetry.server.faults.parse}'s table, and its names
here.
"""

from poetry.server.faults.base import (
    CHUNK,
    ByteCountFault,
    CleanCloseFaultProtocol,
    Fault,
    FaultProtocol,
    StreamingFaultProtocol,
)
from poetry.server.faults.closing import (
    Refuse,
    RefuseProtocol,
    Truncate,
    TruncateProtocol,
)
from poetry.server.faults.hanging import Silent, SilentProtocol, Stall, StallProtocol
from poetry.server.faults.paced import (
    Bandwidth,
    BandwidthProtocol,
    Latency,
    LatencyProtocol,
    Slicer,
    SlicerProtocol,
    SlowClose,
    SlowCloseProtocol,
)
from poetry.server.faults.parse import MODES, parse_fault
from poetry.server.faults.producing import (
    GARBAGE,
    Endless,
    EndlessProtocol,
    Garbage,
    GarbageProtocol,
    Reset,
    ResetProtocol,
)

__all__ = [
    "CHUNK",
    "GARBAGE",
    "MODES",
    "Bandwidth",
    "BandwidthProtocol",
    "ByteCountFault",
    "CleanCloseFaultProtocol",
    "Endless",
    "EndlessProtocol",
    "Fault",
    "FaultProtocol",
    "Garbage",
    "GarbageProtocol",
    "Latency",
    "LatencyProtocol",
    "Refuse",
    "RefuseProtocol",
    "Reset",
    "ResetProtocol",
    "Silent",
    "SilentProtocol",
    "Slicer",
    "SlicerProtocol",
    "SlowClose",
    "SlowCloseProtocol",
    "Stall",
    "StallProtocol",
    "StreamingFaultProtocol",
    "Truncate",
    "TruncateProtocol",
    "parse_fault",
]
