"""The public description of where an allocation was made: a stack of frames."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple


class StackFrame(NamedTuple):
    """One frame of a call stack: the function, its source file and the line being run."""

    function: str
    filename: str
    lineno: int

    def __str__(self) -> str:
        return f"{self.function}:{self.filename}:{self.lineno}"


@dataclass(frozen=True)
class Stack:
    """The call stack of an allocation, most recent frame first."""

    frames: tuple[StackFrame, ...]


LeaksFilterFunction = Callable[[Stack], bool]
"""Given to ``limit_leaks(filter_fn=...)``: return False to ignore the leaks of that stack."""

LeakedObjectsFilterFunction = Callable[[Any], bool]
"""Given to ``limit_leaked_objects(filter_fn=...)``: return False to ignore that object."""
