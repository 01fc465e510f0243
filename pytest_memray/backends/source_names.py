"""Finding the function that encloses a source line, for backends whose frames carry no name.

tracemalloc records only file names and line numbers. To show frames as
``function:file:line`` like memray does, the enclosing ``def`` is read from the source.
"""

from __future__ import annotations

import ast
import bisect
import functools
import linecache

UNKNOWN_FUNCTION = "<unknown>"
MODULE_LEVEL = "<module>"


@functools.lru_cache(maxsize=512)
def _function_spans(filename: str) -> tuple[tuple[int, ...], tuple[tuple[int, int, str], ...]]:
    """Return the spans of every function in ``filename``, sorted by first line."""
    source = "".join(linecache.getlines(filename))
    if not source:
        return (), ()
    try:
        tree = ast.parse(source, filename)
    except (SyntaxError, ValueError):
        return (), ()
    spans = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            last = node.end_lineno or node.lineno
            name = "<lambda>" if isinstance(node, ast.Lambda) else node.name
            spans.append((first, last, name))
    spans.sort()
    return tuple(span[0] for span in spans), tuple(spans)


def function_at(filename: str, lineno: int) -> str:
    """Name of the innermost function around ``lineno`` of ``filename``.

    ``<module>`` when the line is outside every function, ``<unknown>`` when the source
    cannot be read (frozen modules, deleted files).
    """
    starts, spans = _function_spans(filename)
    if not spans:
        return UNKNOWN_FUNCTION if not linecache.getlines(filename) else MODULE_LEVEL
    best = MODULE_LEVEL
    best_size = None
    # Spans that start after the line cannot enclose it; nested spans start later.
    for first, last, name in spans[: bisect.bisect_right(starts, lineno)]:
        if first <= lineno <= last and (best_size is None or last - first <= best_size):
            best, best_size = name, last - first
    return best
