"""
What the C{get-poetry} entry point changes for the whole process before the
downloads start: the open-file limit and the resolver's threads.  A library
call never does either; L{poetry.cli.main} does.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

from twisted.internet._resolver import GAIResolver
from twisted.python.threadpool import ThreadPool

__all__ = ["install_resolver", "raise_open_file_limit"]


class _DaemonThreadPool(ThreadPool):
    """A thread pool whose threads never keep the process alive."""

    @staticmethod
    def threadFactory(*args: Any, **kwargs: Any) -> threading.Thread:  # type: ignore[override]
        thread = threading.Thread(*args, **kwargs)
        thread.daemon = True
        return thread


def install_resolver(reactor: Any) -> ThreadPool:
    """
    Resolve host names on C{reactor} in daemon threads of a pool of their
    own.

    C{getaddrinfo} cannot be cancelled: with Twisted's default resolver a
    lookup that never answers keeps a thread of the reactor's pool busy,
    and the reactor joins that pool at shutdown, so the process outlives
    its last result (or Ctrl-C) until the lookup returns.  This pool is
    never joined: a lookup still running when the run ends is abandoned
    with the process.  (Only the program's entry point does this: it
    changes the reactor for everything else in the process.)

    @return: the pool.
    """
    pool = _DaemonThreadPool(0, 10, "get-poetry resolver")
    pool.start()
    reactor.installNameResolver(
        GAIResolver(reactor, getThreadPool=lambda: pool, getaddrinfo=socket.getaddrinfo)
    )
    return pool


def raise_open_file_limit(resource_module: Any = None) -> None:
    """
    Raise the soft C{RLIMIT_NOFILE} to the hard limit, so that many
    downloads can run at once (Linux's default soft limit is 1024).  The
    program's entry point does this: a library call never changes
    process-wide limits.
    """
    if resource_module is None:
        try:
            import resource as resource_module
        except ImportError:  # pragma: no cover (Windows)
            return
    soft, hard = resource_module.getrlimit(resource_module.RLIMIT_NOFILE)
    infinity = resource_module.RLIM_INFINITY
    target = hard if hard != infinity else max(soft, 1 << 20)
    if soft != infinity and soft < target:
        try:
            resource_module.setrlimit(resource_module.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass
