"""
What C{get-poetry} does on a terminal: poems shown so that they cannot
drive it, and the one-line progress bar.

A poem is whatever bytes a server chose to send.  Written raw to a
terminal, an escape sequence in it can clear the screen, retitle the
window, write the clipboard (OSC 52), print a hyperlink whose target is not
its text (OSC 8), move the cursor to rewrite what was printed before, or
print a line that looks like the next task's C{==>} header.
L{escapeForTerminal} shows every such byte as visible text instead.  It is
applied only when stdout is a terminal: into a pipe or a file poems are
written byte for byte.
"""

from __future__ import annotations

import re

__all__ = [
    "ERASE_LINE",
    "ProgressBar",
    "escapeForTerminal",
    "formatSize",
]

# C0 controls but tab and newline, a carriage return not ending a line
# (CRLF text is shown as written), DEL, C1 controls (U+0080-U+009F: CSI
# and OSC have one-character forms), the bidirectional overrides and
# isolates (which reorder what is shown), and bytes that are not UTF-8
# (decoded as lone surrogates by "surrogateescape").
_UNSAFE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
    "\udc80-\udcff]|\r(?!\n)"
)
_HEADER = re.compile(r"^==>", re.MULTILINE)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char == "\r":
        return "\\r"
    if 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x80:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def escapeForTerminal(data: bytes) -> bytes:
    """
    C{data} made safe to show on a terminal: control characters (but tab
    and newline), C1 controls, bidirectional overrides and invalid UTF-8
    bytes written as C{\\xNN} or C{\\uNNNN} text, and a line starting with
    C{==>} (which would look like a task's header) written as C{\\==>}.
    Everything else, all printable Unicode included, is unchanged.
    """
    text = data.decode("utf-8", "surrogateescape")
    text = _UNSAFE.sub(_escape, text)
    text = _HEADER.sub(r"\\==>", text)
    return text.encode("utf-8")


def formatSize(n: int) -> str:
    """C{n} bytes for people: C{512 B}, C{1.5 KiB}, C{12.3 MiB}."""
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit}"


ERASE_LINE = b"\r\x1b[K"
"""Back to the start of the line, and clear it: how the bar is erased."""


class ProgressBar:
    """
    The state and drawing of the one-line progress bar: poems done of the
    total, failures so far, bytes received and time elapsed::

        poems  3/10 [=========>                   ]  1.2 MiB  1 failed  0:03

    It draws text only; the caller writes it, erasing it with
    L{ERASE_LINE} before writing anything else to the terminal.
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self.received = 0

    def render(self, elapsed: float, width: int = 80) -> str:
        """The bar, fitting in C{width} columns (less one, never wrapping)."""
        digits = len(str(self.total))
        minutes, seconds = divmod(int(elapsed), 60)
        tail = f" {formatSize(self.received)}"
        if self.failed:
            tail += f"  {self.failed} failed"
        tail += f"  {minutes}:{seconds:02d}"
        head = f"poems {self.done:>{digits}}/{self.total} "
        room = min(40, width - 1 - len(head) - len(tail) - 2)
        if room < 5:
            return (head + tail)[: max(0, width - 1)]
        filled = room * self.done // max(1, self.total)
        arrow = ">" if filled < room else ""
        bar = "=" * filled + arrow + " " * (room - filled - len(arrow))
        return f"{head}[{bar}]{tail}"
