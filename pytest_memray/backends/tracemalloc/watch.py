"""The profile hook on the test's thread: the first events of the test function.

Python calls a profile hook at every call and return, so the hook costs more than the test's
own work on call-heavy code; it watches the first :data:`HOOK_EVENTS` events of the test
function (calls and returns of Python functions, returns of C functions: what was allocated
before a C function's call is still there at its return), then hands over to the sampler
thread. Where there is no sampler it watches the whole call. A Python profile function that
was already installed is called from the hook, so both work; a C-level profiler cannot be
chained, and then the hook stays off.
"""

from __future__ import annotations

import inspect
import sys
import tracemalloc
from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any, Protocol

from pytest_memray.backends.tracemalloc.counters import Counters
from pytest_memray.backends.tracemalloc.pictures import TrackingStats
from pytest_memray.backends.tracemalloc.traces import is_own

#: Events (Python calls and returns, C returns) the profile hook watches at the start of each
#: test call where a sampler thread takes over afterwards. At most 256: CPython keeps the
#: ints up to 256 ready made, so counting them down allocates nothing that would show in the
#: figures.
HOOK_EVENTS = 32
#: The same for a coroutine or generator test: the event loop's own calls, between two lines
#: of the test, use events up.
HOOK_EVENTS_SUSPENDING = 200
#: Events the hook sees at most before the test function is entered (plugin work, finalisers
#: run by a garbage collection); past them, the sampler alone watches the call.
HOOK_EVENTS_BEFORE = 10_000
#: Code that hands back what it made and frees next to nothing when it returns: the hook
#: only reads the peak at its return (a picture there would cost as much as the next one
#: and show the same).
HANDS_BACK = frozenset({"<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>", "<lambda>"})
#: Code whose "return" event may be a pause: coroutines and generators.
SUSPENDS = (
    inspect.CO_COROUTINE
    | inspect.CO_GENERATOR
    | inspect.CO_ASYNC_GENERATOR
    | inspect.CO_ITERABLE_COROUTINE
)


class Watched(Protocol):
    """What the hook drives: the tracking of the call."""

    def picture(self) -> None: ...
    def rebaseline(self) -> None: ...
    def hand_to_sampler(self) -> bool: ...


def callers(frame: FrameType | None) -> tuple[FrameType, ...]:
    """``frame`` and its callers."""
    frames = []
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    return tuple(frames)


class ProfileWatch:
    """The profile hook of one call, and what it knows about the test function."""

    def __init__(
        self,
        tracking: Watched,
        counters: Counters,
        starting: FrameType | None,
        sampled: bool,
        stats: TrackingStats,
    ) -> None:
        self._tracking = tracking
        self._fold = counters.fold
        self._fold_to_cover = counters.fold_to_cover
        self._read = counters.read
        self._stats = stats
        # The test function's code: not its frame, whose lasting reference would make Python
        # build its caller's frame object when it returns.
        self.test_code: CodeType | None = None
        #: The test function's frame, from its start to the end of the call: when the test
        #: returns, its locals then stay alive in it until the last picture (the caller's
        #: frame object, which Python links it to then, exists already: see ``callers``).
        self.test_frame: FrameType | None = None
        #: The hook saw the test function return (and read the peak then).
        self.returned = False
        # Frames that were running when tracking started: the test function is the first
        # one called from one of them (not, say, a finaliser that a garbage collection of
        # the plugin's ran in between).
        self._callers = callers(starting)
        self._events_left = HOOK_EVENTS if sampled else -1
        self._events_before = HOOK_EVENTS_BEFORE
        # A Python-level profile function already installed keeps receiving every event
        # through ours; a C-level one cannot be chained, and then the sampler alone watches.
        self._previous_hook: Any = sys.getprofile()
        #: The hook can be (or is) installed.
        self.hooked = self._previous_hook is None or callable(self._previous_hook)
        self._hook = self._make_hook()

    def attach(self) -> None:
        sys.setprofile(self._hook)

    def detach(self) -> None:
        """Take the profile hook off (the previous one, if any, is put back)."""
        if self.hooked:
            self.hooked = False
            if sys.getprofile() is self._hook:
                sys.setprofile(self._previous_hook)

    def forget(self) -> None:
        """The call is over: drop the references to its code and frames."""
        self.test_code = self.test_frame = None
        self._callers = ()

    def _make_hook(self) -> Callable[[FrameType, str, Any], None]:
        """The profile function. After ``on_event`` has read the counters and kept the peak,
        the peak counter is reset, once the reading's own small objects are freed, so that
        they never count."""
        previous = self._previous_hook
        on_event = self._on_event
        picture = self._tracking.picture
        reset_peak = tracemalloc.reset_peak
        stats = self._stats

        if previous is None:

            def hook(frame: FrameType, event: str, arg: Any) -> None:
                if event == "c_call":  # its c_return comes next, and reads the same growth
                    return
                due = on_event(frame, event)
                stats.hook_events += 1
                if due:
                    picture()
                elif due is not None:
                    reset_peak()

        else:

            def hook(frame: FrameType, event: str, arg: Any) -> None:
                previous(frame, event, arg)
                if event == "c_call":
                    return
                due = on_event(frame, event)
                stats.hook_events += 1
                if due:
                    picture()
                elif due is not None:
                    reset_peak()

        return hook

    def _hand_over(self) -> None:
        """The hook's share is over: the sampler watches the rest, unless it declines (a
        profiler of the test's would see it), and then the hook goes on to the end."""
        if self._tracking.hand_to_sampler():
            self.detach()
        else:
            self._events_left = -1

    def _on_event(self, frame: FrameType, event: str) -> bool | None:
        """One profile event on the test's thread; True when a picture is due, None while
        the test function has not been entered (nothing read, so no peak reset owed)."""
        if self.test_code is None:
            if (
                event != "call"
                or frame.f_back not in self._callers
                or is_own(frame.f_code.co_filename)
            ):
                # The plugin's own work before the test function (a garbage collection may
                # run finalisers): not counted against the test's events, but bounded.
                self._events_before -= 1
                if self._events_before == 0 and self._events_left > 0:
                    self._hand_over()
                return None
            # The test function is being entered: what was made so far (including the frame
            # object Python makes for the hook) is not the test's.
            self.test_code = frame.f_code
            if not frame.f_code.co_flags & SUSPENDS:
                self.test_frame = frame
            self._callers = ()
            if self._events_left > 0 and frame.f_code.co_flags & SUSPENDS:
                self._events_left = HOOK_EVENTS_SUSPENDING
            self._tracking.rebaseline()
            return False
        if self._events_left > 0:
            self._events_left -= 1
            if self._events_left == 0:
                self._hand_over()
        if event != "return":
            return self._fold(frame, event)
        if frame.f_code.co_name in HANDS_BACK:
            return self._read(frame, event)
        # What the returning frame holds is freed next: picture it unless already covered.
        due = self._fold_to_cover(frame, event)
        if frame.f_code is self.test_code and not frame.f_code.co_flags & SUSPENDS:
            # The test function returned (a coroutine's "return" may be a pause): close()
            # comes next and reads the peak before the plugin's work. The sampler is not
            # woken for that moment: handing the interpreter to it and back would cost more.
            # Its locals stay alive in its frame, kept until the last picture (see close()),
            # and this was the last reading of the peak: what follows is the plugin's.
            self.returned = True
            self.detach()
        return due
