"""
The server's fault modes, at their old address: everything here lives in
L{poetry.server.faults}.
"""

from poetry.server.faults import (
    CHUNK,
    MODES,
    Endless,
    EndlessProtocol,
    Fault,
    FaultProtocol,
    Refuse,
    RefuseProtocol,
    Reset,
    ResetProtocol,
    Silent,
    SilentProtocol,
    Stall,
    StallProtocol,
    parseFault,
)

__all__ = [
    "CHUNK",
    "MODES",
    "Endless",
    "EndlessProtocol",
    "Fault",
    "FaultProtocol",
    "Refuse",
    "RefuseProtocol",
    "Reset",
    "ResetProtocol",
    "Silent",
    "SilentProtocol",
    "Stall",
    "StallProtocol",
    "parseFault",
]
