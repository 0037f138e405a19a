"""
The server's fault modes, at their old address: everything here lives in
L{poetry.server.faults} (C{from poetry.faults import Stall} keeps working).
"""

from poetry.server import faults as _faults
from poetry.server.faults import *  # noqa: F403

__all__ = _faults.__all__
