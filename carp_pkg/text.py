"""Untrusted text made safe to show: one line, no control characters (a name or a path from config.xml, a
capture or the command line must not end a shell comment, forge a line on a terminal or move its cursor)."""

from __future__ import annotations


def printable(text: str) -> str:
    """Every character that is not printable (newlines, CR, ESC, NUL, U+2028 ...) as a visible escape."""
    return "".join(char if char.isprintable() else _escaped(char) for char in str(text))


def _escaped(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
