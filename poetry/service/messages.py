"""
Words the server's service says: its version line, and plural nouns for
the counts in its start-up and stop lines.
"""

from __future__ import annotations

from poetry import __version__

__all__ = ["plural", "project_version", "version_line"]


def project_version() -> str:
    """The installed distribution's version (L{poetry.__version__})."""
    return __version__


def version_line() -> str:
    """C{twisted-poetry 0.1.0 (Twisted 26.10.0)}."""
    from twisted import __version__ as twisted_version

    return f"twisted-poetry {project_version()} (Twisted {twisted_version})"


def plural(count: int, noun: str) -> str:
    """C{noun} or C{noun + "s"}, whichever goes with C{count}."""
    return noun if count == 1 else f"{noun}s"
