"""
The poetry client.

    - L{poetry.client.protocol}: one download on the wire,
      L{PoetryProtocol} and L{PoetryClientFactory}.
    - L{poetry.client.results}: what downloads produce, L{Poem} and
      L{DownloadResult} with its L{DownloadStatus}.
    - L{poetry.client.scheduler}: L{DownloadScheduler}, which runs
      L{get_poems}' downloads within its caps, on the L{DownloadSlots
      <poetry.client.slots.DownloadSlots>} that pick the next.
    - L{poetry.client.timeouts}: L{Timeouts}, every attempt's timeout of a
      run on one timer.
    - L{poetry.client.connector}: L{Dialer}, one attempt, and L{Connector},
      one try of a download: resolving, then each address in turn;
      L{poetry.client.traced}, the wrapping factory that traces an attempt;
      L{poetry.client.tls}, how C{tls:} servers are verified
      (L{ClientTLS}).
    - L{poetry.client.retries}: L{Backoff} and L{Retrying}, the tries of a
      download.
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
from poetry.client.results import AttemptRecord, DownloadResult, DownloadStatus, Poem
from poetry.client.retries import DEFAULT_RETRY_DELAY, MAX_RETRY_DELAY, Backoff
from poetry.client.scheduler import DownloadScheduler
from poetry.client.tls import ClientTLS, TLSConfigError

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_PER_SERVER",
    "DEFAULT_RETRY_DELAY",
    "DEFAULT_TIMEOUT",
    "MAX_RETRY_DELAY",
    "AttemptRecord",
    "Backoff",
    "ClientTLS",
    "DownloadResult",
    "DownloadScheduler",
    "DownloadStatus",
    "Poem",
    "PoetryClientFactory",
    "PoetryProtocol",
    "TCPReactor",
    "TLSConfigError",
    "TraceRecorder",
    "get_poem",
    "get_poems",
]
