"""
The C{get-poetry} command line: the parser, the checks made before anything
starts, and the exit statuses the command documents.

A new flag is added to L{build_parser}; a check that needs the file system
(a directory that must be writable) goes in L{parse_args}, so that bad
input is a usage error (status 2) before any download starts.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from poetry import __version__
from poetry.addresses import Address, AddressError, parse_address
from poetry.client import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_BYTES,
    DEFAULT_PER_SERVER,
    DEFAULT_RETRY_DELAY,
    DEFAULT_TIMEOUT,
    ClientTLS,
    TLSConfigError,
)

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "PROG",
    "UsageError",
    "build_parser",
    "download_options",
    "insecure_warning",
    "parse_args",
    "writes_stdout",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141
"""Stdout's reader went away: 128 + SIGPIPE, as a shell reports C{cat}."""

PROG = "get-poetry"


class UsageError(Exception):
    """Bad command-line input; C{str()} is one line naming the argument."""


class _Parser(argparse.ArgumentParser):
    """An argument parser that raises L{UsageError} instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _address_arg(text: str) -> Address:
    try:
        return parse_address(text)
    except AddressError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(
            f"must be a positive number of seconds, not {text!r}"
        )
    return value


def _seconds_or_zero(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(
            f"must be a number of seconds >= 0, not {text!r}"
        )
    return value


def _whole(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {text!r}")
    return value


def _positive_int(text: str) -> int:
    return _whole(text, 1)


def _count(text: str) -> int:
    return _whole(text, 0)


def build_parser() -> argparse.ArgumentParser:
    """The C{get-poetry} argument parser."""
    parser = _Parser(
        prog=PROG,
        description="Download poems from poetry servers, all at once.",
        epilog="ADDRESS is PORT, HOST:PORT or [IPv6]:PORT (host 127.0.0.1 by "
        "default), tls:HOST:PORT or unix:PATH. Exit status: 0 all poems "
        "arrived, 1 some failed, "
        "2 usage error, 141 stdout closed by its reader, 128+N stopped by "
        "signal N (130 Ctrl-C, 143 SIGTERM).",
        allow_abbrev=False,
    )
    parser.add_argument(
        "addresses", metavar="ADDRESS", nargs="+", type=_address_arg,
        help="a poetry server to download from",
    )  # fmt: skip
    parser.add_argument(
        "--timeout", metavar="SECONDS", type=_positive_seconds,
        default=DEFAULT_TIMEOUT,
        help="time allowed per try of a poem, resolving and connecting to "
        "each address included (default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--retries", metavar="N", type=_count, default=0,
        help="try a poem again up to N more times when it was refused, "
        "reset, truncated or timed out (default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--retry-delay", metavar="SECONDS", type=_seconds_or_zero,
        default=DEFAULT_RETRY_DELAY,
        help="wait before the first retry, doubled for each next one (at "
        "most 30 s), with jitter (default %(default)s)",
    )  # fmt: skip
    trust = parser.add_mutually_exclusive_group()
    trust.add_argument(
        "--cacert", metavar="FILE", type=Path, default=None,
        help="verify tls: servers against the CA certificates in FILE (PEM) "
        "instead of the system's",
    )  # fmt: skip
    trust.add_argument(
        "--insecure", "-k", action="store_true",
        help="do not verify tls: servers' certificates or names at all",
    )  # fmt: skip
    parser.add_argument(
        "--max-bytes", metavar="N", type=_positive_int, default=DEFAULT_MAX_BYTES,
        help="largest poem accepted, in bytes (default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--concurrency", metavar="N", type=_positive_int,
        default=DEFAULT_CONCURRENCY,
        help="at most N downloads at once in all (default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--per-server", metavar="N", type=_positive_int,
        default=DEFAULT_PER_SERVER,
        help="at most N downloads at once from any one server "
        "(default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--output-dir", metavar="DIR", type=Path, default=None,
        help="write each poem to its own file in DIR as soon as it arrives",
    )  # fmt: skip
    parser.add_argument(
        "--json", action="store_true",
        help="print a JSON summary on stdout instead of the poems",
    )  # fmt: skip
    parser.add_argument(
        "--trace", action="store_true",
        help="log every factory, protocol and timeout callback on stderr as "
        "it happens (turns off the progress bar)",
    )  # fmt: skip
    parser.add_argument(
        "--timeline", action="store_true",
        help="when the downloads end, draw a chart of the tasks over time "
        "on stderr",
    )  # fmt: skip
    parser.add_argument(
        "--timeline-svg", metavar="FILE", type=Path, default=None,
        help="when the downloads end, write that chart to FILE as an SVG "
        "picture",
    )  # fmt: skip
    chatter = parser.add_mutually_exclusive_group()
    chatter.add_argument(
        "-v", "--verbose", action="store_true",
        help="report every chunk of poetry as it arrives",
    )  # fmt: skip
    chatter.add_argument(
        "-q", "--quiet", action="store_true",
        help="no progress, no summary: report only failures",
    )  # fmt: skip
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    return parser


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """
    Parse and check the command line.

    @raise UsageError: for any bad argument, with a one-line message naming
        it.
    @raise SystemExit: for C{--help} and C{--version} (status 0).
    """
    options = build_parser().parse_args(list(argv))
    output_dir: Path | None = options.output_dir
    if output_dir is not None:
        try:
            output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UsageError(
                f"argument --output-dir: cannot create {str(output_dir)!r}:"
                f" {e.strerror or e}"
            ) from None
        if not os.access(output_dir, os.W_OK | os.X_OK):
            raise UsageError(
                f"argument --output-dir: {str(output_dir)!r} is not writable"
            )
    if options.timeline_svg is not None:
        _check_writable_file("--timeline-svg", options.timeline_svg)
    options.tls = _client_tls(options)
    return options


def _client_tls(options: argparse.Namespace) -> ClientTLS:
    if options.insecure:
        return ClientTLS.insecure()
    if options.cacert is not None:
        try:
            return ClientTLS.from_ca_file(options.cacert)
        except TLSConfigError as e:
            raise UsageError(f"argument --cacert: {e}") from None
    return ClientTLS()


def download_options(options: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of L{get_poems} the options give."""
    return {
        "concurrency": options.concurrency,
        "per_server": options.per_server,
        "timeout": options.timeout,
        "max_bytes": options.max_bytes,
        "retries": options.retries,
        "retry_delay": options.retry_delay,
        "tls": options.tls,
    }


def insecure_warning(options: argparse.Namespace) -> str | None:
    """The one loud line C{--insecure} earns on stderr, or L{None}."""
    if not options.insecure:
        return None
    return (
        f"{PROG}: warning: --insecure: TLS certificates and host names are NOT"
        " verified; anyone on the path can impersonate the server"
    )


def writes_stdout(options: argparse.Namespace) -> bool:
    """Whether the run writes to stdout: the poems, or C{--json}'s summary."""
    return bool(options.json or options.output_dir is None)


def _check_writable_file(option: str, path: Path) -> None:
    """
    Check, before anything starts, that C{path} can be created or
    overwritten: it is not a directory, and its directory exists and is
    writable.

    @raise UsageError: naming C{option} and what is wrong.
    """
    if path.is_dir():
        raise UsageError(f"argument {option}: {str(path)!r} is a directory")
    parent = path.parent
    if not parent.is_dir():
        raise UsageError(f"argument {option}: directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK) or (
        path.exists() and not os.access(path, os.W_OK)
    ):
        raise UsageError(f"argument {option}: {str(path)!r} is not writable")
