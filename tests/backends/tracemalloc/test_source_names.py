"""Naming the function around a line, for tracemalloc frames that carry only file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_memray.backends.tracemalloc.source_names import function_at

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


def test_unreadable_sources_are_unknown(tmp_path: Path) -> None:
    assert function_at(str(tmp_path / "missing.py"), 3) == "<unknown>"
    assert function_at("<frozen importlib._bootstrap>", 10) == "<unknown>"


def test_line_beyond_the_file_is_unknown(source_file: str) -> None:
    assert function_at(source_file, 999) == "<unknown>"
