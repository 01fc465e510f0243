"""The profile hook, which memray and the user's profilers both need, shared fairly.

memray sees Python stacks through the thread's profile hook (``sys.setprofile``), the same hook
that :mod:`cProfile` (before Python 3.12) and profile functions written in Python use, and a
thread has only one. The backend's rules:

* the user's profiler wins: a profile hook that a test or a fixture installs is left alone,
  and the figures stay exact (boundary marks do not depend on stacks, see :mod:`.marks`);
  only the locations of what is allocated under it are unknown, and the measurement says so;
* memray gets its hook back where nobody else holds it (:func:`rearm_profile_hook`), before
  and after each batched call, so one test that replaced it costs the next tests nothing;
* starting or stopping a Tracker, which replaces every thread's profile hook and then puts
  back the one it found as if it were a Python function, keeps the user's profiler
  (:func:`enter_tracker`, :func:`exit_tracker`).
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import memray

#: Notes of a call during which memray did not see Python frames .
HOOK_NOT_OURS = (
    "another profiler (a profile hook set with sys.setprofile, or cProfile) held the profile "
    "hook when this test started, and memray sees Python stacks through that same hook: the "
    "figures are exact, but the test's allocations are shown without their Python location"
)
HOOK_REPLACED = (
    "this test replaced the profile hook (sys.setprofile, cProfile or another profiler), "
    "which memray uses to see Python stacks: the figures are exact, but what the test "
    "allocated after that is shown without its Python location"
)


def foreign_profiler() -> object | None:
    """The profile hook of this thread when it is not memray's own (None when there is none).

    memray installs a profile function written in C; ``sys.getprofile()`` gives None for it,
    or an object of memray's own in memray versions that pass one along.
    """
    hook = sys.getprofile()
    if hook is None or type(hook).__module__.startswith("memray"):
        return None
    return hook


def rearm_profile_hook() -> None:
    """Give memray its profile hook back on this thread, and to threads started from now on,
    unless another profiler holds it. Does nothing when memray's hook is in place, which is
    the usual case, and then costs well under a microsecond."""
    if foreign_profiler() is None:
        # memray's own entry point for a thread it has not seen: installs its profile function
        # (unless it is installed already) and reads the thread's Python stack.
        memray.start_thread_trace(None, "call", None)  # type: ignore[attr-defined]
    if threading.getprofile() is None:  # a test cleared it
        threading.setprofile(memray.start_thread_trace)  # type: ignore[attr-defined]


def _give_back(hook: object | None) -> None:
    """Put the user's profile hook ``hook`` back on this thread."""
    if hook is None or sys.getprofile() is hook:
        return
    enable = getattr(hook, "enable", None)
    if _is_cprofile(hook) and enable is not None:
        enable()  # cProfile's C hook, with the options it was enabled with
    elif callable(hook):
        sys.setprofile(hook)


def _is_cprofile(hook: object) -> bool:
    try:
        import _lsprof
    except ImportError:  # pragma: no cover - every CPython has it
        return False
    return isinstance(hook, _lsprof.Profiler)


def enter_tracker(tracker: Any) -> None:
    """Start ``tracker``, keeping this thread's profiler if the user has one running.

    memray remembers the hook it found to put it back at the end, calling it as a Python
    function: a cProfile profiler is not one, so none is left for it to find.
    """
    hook = foreign_profiler()
    if hook is not None:
        sys.setprofile(None)
    try:
        tracker.__enter__()
    finally:
        _give_back(hook)


def exit_tracker(tracker: Any) -> None:
    """Stop ``tracker``, keeping this thread's profiler if the user has one running."""
    hook = foreign_profiler()
    try:
        tracker.__exit__(None, None, None)
    finally:
        _give_back(hook)
