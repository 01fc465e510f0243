"""Who traces: tracemalloc started for one call, kept on for the session, or the user's.

``tracemalloc.start()`` and ``stop()`` while another thread allocates can crash a free-threaded
CPython (python/cpython#126315; a SIGSEGV on 3.13t when a test's thread allocated across the
tests' boundaries). On a free-threaded build (``Py_GIL_DISABLED``), the backend therefore
starts tracing at its first call and keeps it on between calls: each call begins by forgetting
what was traced (``clear_traces``), which is what a fresh start gives. Tracing is stopped when
the session ends. Elsewhere tracing is started for each call and stopped after it, so that the
rest of the session runs at full speed.

Tracing is one for the whole process, and so is :data:`TRACING`, the hold on it that every
backend of the process shares: a backend made after another one that kept tracing on (the
runs of a test suite inside its own process) goes on with that tracing, rather than taking it
for the user's.

Tracing that was on when a call began, and that the backend did not start, is the user's: it is
left running. While the backend keeps tracing between calls, ``tracemalloc.start`` is replaced
by a function that hands the tracing over to the caller (the user's code, a fixture, starting
tracing of its own, which it would otherwise share unknowingly): from then on it is the user's.
What was traced so far is forgotten then, as a fresh start would have nothing traced; tracing
is restarted with the frames the caller asks for only where no other thread runs, as below.

The number of frames recorded per allocation is set when tracing starts. Kept tracing records
the frames the first call asked for; a later call that asks for more restarts it with more
only where no other thread runs (the backend's sampler waits between calls, allocating
nothing). Otherwise its stacks are cut, and the call's notes say so.
"""

from __future__ import annotations

import sysconfig
import threading
import tracemalloc
from typing import Any

from pytest_memray.backends.tracemalloc.own_use import (
    real_clear_traces,
    real_is_tracing,
    real_start,
    real_stop,
)
from pytest_memray.backends.tracemalloc.sampler import SAMPLER_NAME

#: A free-threaded build: tracing is kept on between calls.
FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))

CUT_STACKS_NOTE = (
    "tracemalloc records {frames} frame(s) per allocation in this session, fewer than this "
    "test's stacks need: on a free-threaded Python the backend keeps tracing on between tests "
    "(starting and stopping it while threads allocate can crash CPython) and restarts it with "
    "more frames only when no other thread runs; its stacks may be cut"
)


class Tracing:
    """The backend's hold on tracemalloc's tracing, for one session."""

    def __init__(self, keep: bool = FREE_THREADED) -> None:
        #: Keep tracing on between calls (free-threaded builds).
        self.keep = keep
        # Tracing the backend started and keeps on between calls: the frames it records.
        self._kept: int | None = None
        self._handover = self._make_handover()
        self._replaced: Any = None

    def begin(self, depth: int) -> tuple[bool, str | None]:
        """Tracing for a call that wants ``depth`` frames per allocation: whether the backend
        owns it (it started it, for this call or earlier, and forgets what was traced), and a
        note when the call gets fewer frames than it wants."""
        tracing = real_is_tracing()
        if self._kept is None:
            if tracing:
                return False, None  # the user's
            real_start(depth)
            if self.keep:
                self._kept = depth
                self._install()
            return True, None
        if not tracing:  # stopped since (by a test, a fixture): started again
            real_start(max(depth, self._kept))
        elif tracemalloc.get_traceback_limit() < depth:
            if not self._alone():
                frames = tracemalloc.get_traceback_limit()
                real_clear_traces()
                return True, CUT_STACKS_NOTE.format(frames=frames)
            real_stop()
            real_start(depth)
        else:
            real_clear_traces()
        self._kept = tracemalloc.get_traceback_limit()
        return True, None

    def end(self, ours: bool) -> None:
        """The call is over: stop tracing started for it alone."""
        if ours and not self.keep and real_is_tracing():
            real_stop()

    def close(self) -> None:
        """The session ends: stop tracing kept on between calls."""
        if self._kept is not None:
            self._kept = None
            self._remove()
            if real_is_tracing():
                real_stop()

    def _alone(self) -> bool:
        """No thread but this one and the backends' samplers (which wait between calls,
        allocating nothing) is alive: none can allocate while tracing restarts."""
        this = threading.current_thread()
        return all(
            thread is this or thread.name == SAMPLER_NAME for thread in threading.enumerate()
        )

    def _make_handover(self) -> Any:
        def start(nframe: int = 1) -> None:
            self._kept = None  # the caller's tracing from now on
            self._remove()
            if real_is_tracing():
                if tracemalloc.get_traceback_limit() != nframe and self._alone():
                    real_stop()  # started afresh below, with the frames asked for
                else:
                    real_clear_traces()  # as a fresh start: nothing traced yet
            real_start(nframe)  # does nothing while tracing

        start.__doc__ = real_start.__doc__
        start.__name__ = start.__qualname__ = "start"
        return start

    def _install(self) -> None:
        module = vars(tracemalloc)
        self._replaced = module["start"]
        module["start"] = self._handover

    def _remove(self) -> None:
        module = vars(tracemalloc)
        if module["start"] is self._handover:
            module["start"] = self._replaced
        self._replaced = None


#: The process's hold on tracing, shared by its backends.
TRACING = Tracing()
