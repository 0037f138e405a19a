"""
Words the server's service says: its version line, and plural nouns for
the counts in its start-up and stop lines.
"""

from __future__ import annotations

from poetry import __version__

__all__ = ["plural", "projectVersion", "versionLine"]


def projectVersion() -> str:
    """The installed distribution's version (L{poetry.__version__})."""
    return __version__


def versionLine() -> str:
    """C{twisted-poetry 0.1.0 (Twisted 26.10.0)}."""
    from twisted import __version__ as twistedVersion

    return f"twisted-poetry {projectVersion()} (Twisted {twistedVersion})"


def plural(count: int, noun: str) -> str:
    """C{noun} or C{noun + "s"}, whichever goes with C{count}."""
    return noun if count == 1 else f"{noun}s"
