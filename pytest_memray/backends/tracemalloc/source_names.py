"""Finding the function that encloses a source line, for backends whose frames carry no name.

tracemalloc records only file names and line numbers. To show frames as
``function:file:line`` like memray does, the enclosing ``def`` is found by walking up from the
line to the nearest less-indented ``def``. This reads the source through :mod:`linecache` and
parses nothing, so it stays cheap when a snapshot covers hundreds of files; it can be fooled by
unusual layouts (a ``def`` inside a multi-line string), which only affects a label.
"""

from __future__ import annotations

import functools
import linecache
import re

UNKNOWN_FUNCTION = "<unknown>"
MODULE_LEVEL = "<module>"

_DEF = re.compile(r"(?:async\s+)?def\s+([A-Za-z_]\w*)")
_CLASS = re.compile(r"class\s+([A-Za-z_]\w*)")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


@functools.lru_cache(maxsize=4096)
def function_at(filename: str, lineno: int) -> str:
    """Name of the innermost function around ``lineno`` of ``filename``.

    A line in a class body gives the class name, as Python names that scope; ``<module>`` when
    the line is outside every function and class, ``<unknown>`` when the source cannot be read
    (frozen modules, deleted files).
    """
    lines = linecache.getlines(filename)
    if not lines or not 0 < lineno <= len(lines):
        return UNKNOWN_FUNCTION
    own = _DEF.match(lines[lineno - 1].lstrip()) or _CLASS.match(lines[lineno - 1].lstrip())
    if own:
        # A def line is where a running function's frame starts; that is far more often what
        # an allocation there belongs to than the one-off creation of the function.
        return own.group(1)
    threshold = _indent(lines[lineno - 1]) if lines[lineno - 1].strip() else 1 << 30
    for index in range(lineno - 2, -1, -1):
        text = lines[index]
        stripped = text.lstrip(" \t")
        if not stripped.strip() or stripped.startswith(("#", ")", "]", "}")):
            continue  # blank, comment, or the closing line of a multi-line signature or call
        indent = _indent(text)
        if indent >= threshold:
            continue
        match = _DEF.match(stripped) or _CLASS.match(stripped)
        if match:
            return match.group(1)  # a class body runs as a scope named after the class
        if indent == 0:
            break
        threshold = indent
    return MODULE_LEVEL
