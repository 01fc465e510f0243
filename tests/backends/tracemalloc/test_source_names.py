"""Naming the function around a line, for tracemalloc frames that carry only file and line."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from pytest_memray.backends.tracemalloc.source_names import function_at, name_frames

SOURCE = """\
import functools

TOP = [1, 2]


def outer(a):
    b = a + 1

    def inner(c):
        return c * 2

    # a comment at a shallower indent
    return inner(b)


class Box:
    size = 3

    @functools.lru_cache(maxsize=None)
    def method(self):
        return [
            self.size,
        ]


async def waiter():
    return 1


def spread_out(
    first,
    second,
) -> list:
    total = first + second
    return [total]
"""


@pytest.fixture
def source_file(tmp_path: Path) -> str:
    path = tmp_path / "sample_module.py"
    path.write_text(SOURCE)
    return str(path)


@pytest.mark.parametrize(
    ("lineno", "expected"),
    [
        (1, "<module>"),
        (3, "<module>"),
        (6, "outer"),  # where the function's frame starts
        (7, "outer"),
        (10, "inner"),
        (13, "outer"),
        (17, "Box"),
        (19, "Box"),  # decorators run in the class body
        (21, "method"),
        (22, "method"),
        (27, "waiter"),
        (32, "spread_out"),
        (35, "spread_out"),
        (34, "spread_out"),
    ],
)
def test_function_at(source_file: str, lineno: int, expected: str) -> None:
    assert function_at(source_file, lineno) == expected


def test_a_function_name_is_the_code_objects_own_string(source_file: str) -> None:
    """The plugin keeps a named frame for every test of a session: its name is the string
    the interpreter already holds, not a copy per test."""
    namespace: dict[str, object] = {}
    exec(compile(SOURCE, source_file, "exec"), namespace)
    outer = namespace["outer"]
    assert isinstance(outer, types.FunctionType)
    for lineno in (6, 7):  # the def line, and a line of the body
        assert function_at(source_file, lineno) is outer.__code__.co_name
    assert function_at(source_file, 17) is namespace["Box"].__name__  # type: ignore[attr-defined]


def test_unreadable_sources_are_unknown(tmp_path: Path) -> None:
    assert function_at(str(tmp_path / "missing.py"), 3) == "<unknown>"
    assert function_at("<frozen importlib._bootstrap>", 10) == "<unknown>"


def test_line_beyond_the_file_is_unknown(source_file: str) -> None:
    assert function_at(source_file, 999) == "<unknown>"


NESTED = """\
def test_loop(data):
    kept = [bytearray(n) for n in data]
    keys = sorted(kept, key=lambda item: len(item))
    total = sum(len(item) for item in kept)
    both = [len(x) for x in sorted(kept, key=lambda item: -len(item))]
    return kept, keys, total, both
"""

#: Comprehensions are functions of their own until Python 3.12, inlined since (PEP 709).
LISTCOMP = "<listcomp>" if sys.version_info < (3, 12) else "test_loop"


@pytest.fixture
def nested_file(tmp_path: Path) -> str:
    path = tmp_path / "nested_module.py"
    path.write_text(NESTED)
    return str(path)


def test_frames_are_named_as_the_interpreter_names_them(nested_file: str) -> None:
    """Each frame's name is the one the running interpreter gives it: compared with the names
    of the real frames of a run of the same code."""
    names: list[tuple[tuple[str, int], str]] = []
    namespace: dict[str, object] = {}
    exec(compile(NESTED, nested_file, "exec"), namespace)

    def tracer(frame: types.FrameType, event: str, arg: object) -> None:
        if event == "call" and frame.f_code.co_filename == nested_file:
            names.append(((nested_file, frame.f_lineno), frame.f_code.co_name))

    sys.setprofile(tracer)
    try:
        namespace["test_loop"]([3, 1, 2])  # type: ignore[operator]
    finally:
        sys.setprofile(None)
    assert names
    for where, name in names:
        if where[1] == 5:
            continue  # two scopes side by side on one line: see the next test
        # a frame called from its own line: the name the stack gives the callee
        stack = [where, (nested_file, where[1])] if name != "test_loop" else [where, ("x", 1)]
        assert name_frames(stack)[0] == name, (where, name)


@pytest.mark.parametrize(
    ("stack", "expected"),
    [
        # the comprehension, called from its own line by the test
        ([2, 2], (LISTCOMP, "test_loop") if LISTCOMP != "test_loop" else ("test_loop",) * 2),
        ([2], (LISTCOMP,)),  # the caller cut off: a comprehension is likelier
        ([3, 3], ("<lambda>", "test_loop")),  # sorted's key, called from its line
        ([3], ("test_loop",)),  # sorted itself (the caller cut off)
        ([4, 4], ("<genexpr>", "test_loop")),
        # Two scopes side by side on one line: the comprehension is taken, likelier to
        # allocate than a lambda (which is right for sorted's key only when it allocates).
        ([5, 5], (LISTCOMP, "test_loop") if LISTCOMP != "test_loop" else ("<lambda>", "test_loop")),
    ],
)
def test_a_line_shared_by_nested_scopes(
    nested_file: str, stack: list[int], expected: tuple[str, ...]
) -> None:
    frames = [(nested_file, line) for line in stack]
    if len(stack) == 2:
        frames.append(("elsewhere.py", 1))  # the test's caller, in another file
    assert name_frames(frames)[: len(stack)] == expected


def test_a_file_that_does_not_compile_is_named_by_indentation(tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text("def ok():\n    return [x for x in y]\n\ndef broken(:\n    pass\n")
    assert name_frames([(str(path), 2)]) == ("ok",)
