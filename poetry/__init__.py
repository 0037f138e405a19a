"""
twisted-poetry: a Twisted poetry client and server.

The package holds the poem library (L{poetry.library}), the server
(L{poetry.server}, run under twistd by L{poetry.service}), and the client
(L{poetry.client}, driven from the command line by L{poetry.cli}).

The client's public API is importable from here: L{get_poem},
L{get_poems}, L{Poem}, L{DownloadResult} with its L{DownloadStatus},
L{Address}, L{parse_address} and the errors (L{PoemError} and its
subclasses), and L{TraceRecorder}, the interface a tracer provides.
"""

from importlib import metadata as _metadata

try:
    #: The installed distribution's version: pyproject.toml is its one source.
    __version__ = _metadata.version("twisted-poetry")
except _metadata.PackageNotFoundError:  # imported from a checkout, not installed
    __version__ = "0+unknown"

from poetry.addresses import Address, AddressError, parse_address
from poetry.client import (
    DownloadResult,
    DownloadStatus,
    Poem,
    TraceRecorder,
    get_poem,
    get_poems,
)
from poetry.errors import (
    EmptyPoem,
    PoemCallbackError,
    PoemConnectionFailed,
    PoemError,
    PoemTimeout,
    PoemTLSError,
    PoemTooLarge,
    PoemTruncated,
)

__all__ = [
    "Address",
    "AddressError",
    "DownloadResult",
    "DownloadStatus",
    "EmptyPoem",
    "Poem",
    "PoemCallbackError",
    "PoemConnectionFailed",
    "PoemError",
    "PoemTLSError",
    "PoemTimeout",
    "PoemTooLarge",
    "PoemTruncated",
    "TraceRecorder",
    "__version__",
    "get_poem",
    "get_poems",
    "parse_address",
]
