"""
What C{get-poetry} does on a terminal: poems shown so that they cannot
drive it.  (The progress bar is L{poetry.cli.progress}.)

A poem is whatever bytes a server chose to send.  Written raw to a
terminal, an escape sequence in it can clear the screen, retitle the
window, write the clipboard (OSC 52), print a hyperlink whose target is not
its text (OSC 8), move the cursor to rewrite what was printed before, or
print a line that looks like the next task's C{==>} header.
L{escape_for_terminal} shows every such byte as visible text instead.  It is
applied only when stdout is a terminal: into a pipe or a file poems are
written byte for byte.
"""

from __future__ import annotations

import re

__all__ = ["escape_for_terminal"]

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


def escape_for_terminal(data: bytes) -> bytes:
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
