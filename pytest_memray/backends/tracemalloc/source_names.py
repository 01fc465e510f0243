"""Naming the frames of a stack, for backends whose frames carry only a file and a line.

tracemalloc records file names and line numbers. To show frames as ``function:file:line`` as
memray does, the file's source is compiled once (see :func:`source_lines`) and each line is
given the code objects whose line table covers it, which the running interpreter names its
frames after: a list comprehension is ``<listcomp>`` on Python 3.11 and, inlined since 3.12
(PEP 709), the enclosing function there; lambdas and generator expressions get their own
names too. Functions and classes are found by indentation (:func:`function_at`): the nearest
less-indented ``def`` or ``class``, ``<module>`` outside them, so that a ``def`` line is named
after the function (its frame starts there) and a decorator line after the scope around it.

A line can belong to several code objects (``kept = [f(x) for x in xs]`` is the function's and
its comprehension's). In a stack, a frame whose caller is at the same line is the innermost
one and its caller the one around it; otherwise the innermost is taken, except a lambda's body,
which runs when the lambda is called (its caller is then most often on the same line, as with
``sorted(key=...)``), so its enclosing scope is taken. Where the source does not compile, all
names come from indentation.
"""

from __future__ import annotations

import functools
import linecache
import os
import re
import sys
import tokenize
from collections.abc import Sequence
from types import CodeType

#: (file, line) pairs, newest first, as tracemalloc records them.
Frames = Sequence[tuple[str, int]]
#: A code object that covers a line: (its id in the file, its name, its parent's id).
Scope = tuple[int, str, int]

UNKNOWN_FUNCTION = "<unknown>"
MODULE_LEVEL = "<module>"

_DEF = re.compile(r"(?:async\s+)?def\s+([A-Za-z_]\w*)")
_CLASS = re.compile(r"class\s+([A-Za-z_]\w*)")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


@functools.lru_cache(maxsize=16)
def source_lines(filename: str) -> tuple[str, ...]:
    """The lines of ``filename``, read once for a few files at a time.

    Read directly rather than through :mod:`linecache`, which would keep the source of every
    file ever named for the rest of the session (a suite of thousands of files grows by
    megabytes); what linecache holds already is used as it is.
    """
    cached = linecache.cache.get(filename)
    if cached is not None and len(cached) == 4:
        return tuple(cached[2])
    if os.path.isabs(filename):
        try:
            with tokenize.open(filename) as source:
                return tuple(source.readlines())
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            return ()
    return tuple(linecache.getlines(filename))  # a name relative to sys.path: searched there


@functools.lru_cache(maxsize=1024)
def function_at(filename: str, lineno: int) -> str:
    """Name of the innermost function around ``lineno`` of ``filename``.

    A line in a class body gives the class name, as Python names that scope; ``<module>`` when
    the line is outside every function and class, ``<unknown>`` when the source cannot be read
    (frozen modules, deleted files).
    """
    lines = source_lines(filename)
    if not lines or not 0 < lineno <= len(lines):
        return UNKNOWN_FUNCTION
    own = _DEF.match(lines[lineno - 1].lstrip()) or _CLASS.match(lines[lineno - 1].lstrip())
    if own:
        # A def line is where a running function's frame starts; that is far more often what
        # an allocation there belongs to than the one-off creation of the function.
        return sys.intern(own.group(1))  # the code object's own name: no copy per test
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
            return sys.intern(match.group(1))  # a class body runs as a scope named after it
        if indent == 0:
            break
        threshold = indent
    return MODULE_LEVEL


LAMBDA = "<lambda>"
#: Comprehensions (functions until Python 3.12) are called at once, from their own line.
COMPREHENSIONS = frozenset({"<listcomp>", "<setcomp>", "<dictcomp>"})
#: Scopes that share their lines with the code around them.
INLINE = COMPREHENSIONS | {LAMBDA, "<genexpr>"}


@functools.lru_cache(maxsize=16)
def _scopes_by_line(filename: str) -> dict[int, tuple[Scope, ...]] | None:
    """For each line of ``filename``, the code objects that cover it, innermost first; None
    when the source cannot be read or compiled."""
    lines = source_lines(filename)
    if not lines:
        return None
    try:
        module = compile("".join(lines), filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError, OverflowError, RecursionError):
        return None
    by_line: dict[int, list[tuple[int, Scope]]] = {}
    pending: list[tuple[CodeType, int, int]] = [(module, 0, -1)]
    ident = 0
    while pending:
        code, depth, parent = pending.pop()
        scope: Scope = (ident, code.co_name, parent)
        ident += 1
        for line in {line for _, _, line in code.co_lines() if line}:
            by_line.setdefault(line, []).append((depth, scope))
        pending.extend(
            (const, depth + 1, scope[0]) for const in code.co_consts if isinstance(const, CodeType)
        )
    return {
        # Innermost first; of two on one line, a lambda last: less likely the one allocating.
        line: tuple(
            scope for _, scope in sorted(found, key=lambda item: (-item[0], item[1][1] == LAMBDA))
        )
        for line, found in by_line.items()
    }


#: Words that may open a scope of their own (a comprehension, a generator expression, a
#: lambda): lines without them nearby are named by indentation alone, without compiling.
_NESTED = re.compile(r"\bfor\b|\blambda\b")


@functools.lru_cache(maxsize=1024)
def _scopes_at(filename: str, lineno: int) -> tuple[Scope, ...] | None:
    lines = source_lines(filename)
    # A comprehension may spread over a few lines around this one.
    if not 0 < lineno <= len(lines) or not any(
        _NESTED.search(line) for line in lines[max(lineno - 6, 0) : lineno + 5]
    ):
        return None
    by_line = _scopes_by_line(filename)
    return None if by_line is None else by_line.get(lineno, ())


def _innermost(
    scopes: tuple[Scope, ...], here: tuple[str, int], caller: tuple[str, int] | None
) -> Scope:
    """The scope of a frame ``here``, covered by ``scopes``, called from ``caller`` (None
    when the stack was cut there)."""
    if caller == here:
        return scopes[0]  # called from its own line: the innermost (the caller is around it)
    for scope in scopes:
        name = scope[1]
        # A lambda's body runs when it is called, most often from its own line (sorted's
        # key), and a comprehension's always until 3.12: from elsewhere, it is the code
        # around them that runs. Where the caller is unknown, a comprehension is likelier.
        if name == LAMBDA or (name in COMPREHENSIONS and caller is not None):
            continue
        return scope
    return scopes[-1]


def name_frames(frames: Frames) -> tuple[str, ...]:
    """The function name of each frame of a stack (newest first), as Python names it."""
    names: list[str] = []
    chosen: Scope | None = None
    for index, (filename, lineno) in enumerate(frames):
        scopes = _scopes_at(filename, lineno)
        if not scopes:
            names.append(function_at(filename, lineno))
            chosen = None
            continue
        scope: Scope | None = None
        if chosen is not None and frames[index - 1] == (filename, lineno):
            # Called from the same line: the scope around the callee's.
            scope = next((each for each in scopes if each[0] == chosen[2]), None)
        if scope is None:
            caller = frames[index + 1] if index + 1 < len(frames) else None
            scope = _innermost(scopes, (filename, lineno), caller)
        # Functions and classes by indentation, which names a def line (where a function's
        # frame starts) and a decorator line (run in the scope around) as before.
        names.append(scope[1] if scope[1] in INLINE else function_at(filename, lineno))
        chosen = scope
    return tuple(names)
