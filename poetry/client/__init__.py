"""
The poetry client.

    - L{poetry.client.protocol}: one download on the wire,
      L{PoetryProtocol} and L{PoetryClientFactory}.
    - L{poetry.client.results}: what downloads produce, L{Poem} and
      L{DownloadResult} with its L{DownloadStatus}.
    - L{poetry.client.scheduler}: L{DownloadScheduler}, which runs
      L{get_poems}' downloads within its caps.
    - L{poetry.client.api}: L{get_poem} and L{get_poems}, the functions
      callers use, with their argument checks.

Every public name is importable from here (C{from poetry.client import
get_poems}).
"""

from poetry.client.api import (
    DEFAULT_CONCURRENCY,
    DEFAULT_PER_SERVER,
    get_poem,
    get_poems,
)
from poetry.client.protocol import (
    DEFAULT_MAX_BYTES,
    DEFAULT_TIMEOUT,
    PoetryClientFactory,
    PoetryProtocol,
    TCPReactor,
    TraceRecorder,
)
from poetry.client.results import DownloadResult, DownloadStatus, Poem
from poetry.client.scheduler import DownloadScheduler

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_PER_SERVER",
    "DEFAULT_TIMEOUT",
    "DownloadResult",
    "DownloadScheduler",
    "DownloadStatus",
    "Poem",
    "PoetryClientFactory",
    "PoetryProtocol",
    "TCPReactor",
    "TraceRecorder",
    "get_poem",
    "get_poems",
]
