"""A renderer small enough to audit: string.Template, and every value HTML-escaped unless marked `Html`.

Only constant template text and what `render()` returns are `Html`; any other value (a config.xml
description, an interface from a capture, an event field) is escaped for text and attribute context.
"""

from __future__ import annotations

import html
from string import Template
from typing import Iterable


class Html(str):
    """Text that is already safe HTML: a constant of this package or the result of render()."""


def esc(value) -> Html:
    """Any value as HTML text, safe inside an element and a double- or single-quoted attribute."""
    if isinstance(value, Html):
        return value
    return Html(html.escape("" if value is None else str(value), quote=True))


def render(template: str, **values) -> Html:
    """Fill a constant template; `$name` placeholders only (a missing one is a KeyError, not silence)."""
    return Html(Template(template).substitute({name: esc(value) for name, value in values.items()}))


def join(parts: Iterable, separator: str = "") -> Html:
    return Html(esc(separator).join(esc(part) for part in parts))


def prose(text) -> Html:
    """Text with `command` spans shown as <code>: escaped first, then split on the backquotes."""
    parts = esc(text).split("`")
    if len(parts) % 2 == 0:  # an unpaired backquote: nothing is code
        return esc(text)
    return Html("".join(f"<code>{part}</code>" if index % 2 else part for index, part in enumerate(parts)))
