"""The test's own use of tracemalloc, which shares the counters the backend reads.

Reading tracemalloc (``get_traced_memory``, ``take_snapshot``) changes nothing. Resetting it
does: ``reset_peak`` forgets the high-water mark, ``clear_traces`` forgets every allocation
traced so far (their frees are no longer seen), and ``stop`` ends tracing (a ``start`` after
it counts from nothing). While the test runs, the module's ``reset_peak``, ``clear_traces``,
``stop`` and ``start`` are replaced by functions that tell the tracking first: a reset of the
peak is then harmless (the tracking keeps the peak reached so far before it is reset), the
others make the call "not measured" with what the test did.

What the replacement misses (a name bound before the test, such as ``from tracemalloc import
clear_traces`` at the top of a module, or ``_tracemalloc`` itself) is found afterwards where
it can be: tracing stopped, a sentinel object of the backend's that lost its trace (cleared, or
tracing started again), or another number of frames recorded. A reset of the peak counter
through such a name cannot be seen.
"""

from __future__ import annotations

import sys
import tracemalloc
from collections.abc import Callable
from types import FrameType
from typing import Any, Protocol

#: The real functions, for the backend's own use while the replacements are in place.
real_reset_peak = tracemalloc.reset_peak
real_is_tracing = tracemalloc.is_tracing
real_clear_traces = tracemalloc.clear_traces
real_start = tracemalloc.start
real_stop = tracemalloc.stop
_object_traceback: Callable[[object], Any] = getattr(
    tracemalloc, "_get_object_traceback", tracemalloc.get_object_traceback
)

RESET = "the test reset tracemalloc"


class Reset(Protocol):
    """What is told of the test's calls: the tracking of the call."""

    def before_reset_peak(self, caller: FrameType | None) -> None: ...
    def reset_by_test(self, reason: str) -> None: ...


class OwnUse:
    """The replacements of tracemalloc's functions, made once, told of the tracking that is
    open now."""

    def __init__(self) -> None:
        self._tracking: Reset | None = None
        self._installed: dict[str, Any] = {}
        self._replacements = self._make()

    def _make(self) -> dict[str, Callable[..., Any]]:
        def reset_peak() -> None:
            if self._tracking is not None:
                self._tracking.before_reset_peak(sys._getframe(1))
            real_reset_peak()

        def clear_traces() -> None:
            self._told(
                f"{RESET} (it called tracemalloc.clear_traces(), which forgets what was traced)"
            )
            real_clear_traces()

        def stop() -> None:
            self._told("the test stopped tracemalloc (it called tracemalloc.stop())")
            real_stop()

        def start(nframe: int = 1) -> None:
            if not real_is_tracing():
                self._told(f"{RESET} (it called tracemalloc.stop(), then start())")
            real_start(nframe)

        functions: dict[str, Callable[..., Any]] = {
            "reset_peak": reset_peak,
            "clear_traces": clear_traces,
            "stop": stop,
            "start": start,
        }
        for name, function in functions.items():
            function.__doc__ = getattr(tracemalloc, name).__doc__  # made before install()
            function.__name__ = function.__qualname__ = name
        return functions

    def _told(self, reason: str) -> None:
        if self._tracking is not None:
            self._tracking.reset_by_test(reason)

    def install(self, tracking: Reset) -> None:
        """Put the replacements in place: the test code of ``tracking`` starts."""
        self._tracking = tracking
        module = vars(tracemalloc)
        for name, function in self._replacements.items():
            self._installed[name] = module[name]
            module[name] = function

    def remove(self) -> None:
        """Put back what was there: the test code has finished."""
        self._tracking = None
        module = vars(tracemalloc)
        for name, previous in self._installed.items():
            if module.get(name) is self._replacements[name]:
                module[name] = previous
        self._installed.clear()


OWN_USE = OwnUse()


def unseen_reset(sentinel: object, frames: int) -> str | None:
    """What the test did to tracemalloc that the replacements did not see, if anything:
    ``sentinel`` was traced when the call began, with ``frames`` frames recorded."""
    if not real_is_tracing():
        return "the test stopped tracemalloc (tracing was off when it returned)"
    if _object_traceback(sentinel) is None:
        return f"{RESET} (its traces were cleared, or tracing was stopped and started again)"
    if tracemalloc.get_traceback_limit() != frames:
        return f"{RESET} (tracing was started again with another number of frames)"
    return None
