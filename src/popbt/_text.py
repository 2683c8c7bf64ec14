"""Text for people: characters a terminal would act on, shown as escapes; long values shortened.

Contract:
- `printable(text)` replaces every *unsafe* character (C0 and C1 control characters and DEL,
  lone surrogates, the line and paragraph separators, the bidirectional-text controls) by a
  Python-style escape (`\\n`, `\\x1b`, `\\u202e`) and changes nothing else: ordinary text, accents,
  emoji and backslashes come out as they went in. The result is one line without any
  character that moves the cursor, rings the bell, changes colours or reorders text.
- `unsafe(text)` lists the unsafe characters of `text`, each once, in order.
- `shorten(text, limit)` is `text`, or its first `limit` characters and a "…" mark.
Importing this module imports nothing heavy.
"""

from __future__ import annotations

import re

# C0 controls (newline and tab included), DEL and the C1 controls (CSI = \x9b among them),
# the Arabic letter mark, the left-to-right and right-to-left marks, the line and paragraph
# separators, the bidirectional embeddings, overrides and isolates, lone surrogates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e"
                     "\u2066-\u2069\ud800-\udfff]")


_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char in _SHORT:
        return _SHORT[char]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` with every unsafe character written as an escape.

    Examples:
        >>> printable("red \\x1b[31mtext\\r")
        'red \\\\x1b[31mtext\\\\r'
    """
    return _UNSAFE.sub(_escape, text)


def unsafe(text: str) -> list[str]:
    """The unsafe characters of `text` (see the module's contract), each once, in order."""
    return list(dict.fromkeys(_UNSAFE.findall(text)))


def shorten(text: str, limit: int = 40) -> str:
    """`text`, or its first `limit` characters followed by "…" when it is longer.

    Examples:
        >>> shorten("a" * 50, 5)
        'aaaaa…'
    """
    return text if len(text) <= limit else text[:limit] + "…"
