"""The sampler thread: one per process, it reads the traced total of the test being watched.

Where a thread cannot start (WebAssembly), :func:`start_sampler` gives None and the profile
hook watches the whole call instead. It gives None as well on free-threaded builds older than
Python 3.15, where a second thread running Python code while a test starts or stops
:mod:`cProfile` can hang or crash the interpreter (CPython issues gh-125165 and gh-116738,
fixed in 3.15): there the sampler would be that second thread in every process, so the hook
watches the whole call there too.

From Python 3.12 on, :mod:`cProfile` profiles through :mod:`sys.monitoring`, which sees every
thread: a sampler reading while a test's own profiler runs would put its calls into the
test's profile. :func:`profiler_registered` tells when such a profiler is on, and the tracking
then leaves the call to the hook instead of handing it to the sampler.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Protocol

#: Seconds between two readings of the sampler thread.
SAMPLE_INTERVAL = 0.001
#: The name of the sampler threads (one per backend): they allocate nothing while they wait.
SAMPLER_NAME = "pytest-memray tracemalloc sampler"


class Sampled(Protocol):
    """What the sampler reads: a tracking, on the sampler's thread."""

    def sample(self) -> None: ...


class Sampler:
    """A daemon thread that reads the traced total of the tracking being watched.

    It waits on a closed gate while no test runs. ``watch`` opens the gate, ``unwatch`` closes
    it again and returns once a reading in progress is over, so a tracking is never read after
    it stopped being watched.
    """

    def __init__(self) -> None:
        self._gate = threading.Lock()
        self._gate.acquire()
        self._tracking: Sampled | None = None
        ready = threading.Event()
        thread = threading.Thread(target=self._run, args=(ready,), name=SAMPLER_NAME, daemon=True)
        thread.start()  # RuntimeError where threads cannot start
        # What the thread allocates for itself is made before any test is measured.
        ready.wait()

    def _run(self, ready: threading.Event) -> None:
        # Bound once: the loop allocates nothing itself, so a reading that lands at the peak
        # adds nothing to it once the peak counter is reset (see Tracking.sample).
        acquire, release = self._gate.acquire, self._gate.release
        sleep = time.sleep
        ready.set()
        del ready
        while True:
            acquire()
            try:
                tracking = self._tracking
                if tracking is not None:
                    tracking.sample()
            finally:
                release()
            sleep(SAMPLE_INTERVAL)

    def watch(self, tracking: Sampled) -> None:
        self._tracking = tracking
        self._gate.release()

    def unwatch(self) -> None:
        self._gate.acquire()
        self._tracking = None


def profilers_see_other_threads_safely(
    version: tuple[int, int] | None = None, gil_enabled: bool | None = None
) -> bool:
    """Whether a thread of the plugin's may run Python code while a test's profiler starts
    and stops: always with the GIL, and from Python 3.15 on without it (see the module's
    docstring). ``version`` and ``gil_enabled`` default to the running interpreter's."""
    if version is None:
        version = (sys.version_info[0], sys.version_info[1])
    if gil_enabled is None:
        is_gil_enabled = getattr(sys, "_is_gil_enabled", None)
        gil_enabled = True if is_gil_enabled is None else bool(is_gil_enabled())
    return gil_enabled or version >= (3, 15)


def profiler_registered() -> bool:
    """Whether a profiler (cProfile, from Python 3.12 on) holds :mod:`sys.monitoring`'s
    profiler tool, and so would see the sampler thread's calls."""
    monitoring = getattr(sys, "monitoring", None)
    if monitoring is None:  # before Python 3.12
        return False
    return monitoring.get_tool(monitoring.PROFILER_ID) is not None


def start_sampler() -> Sampler | None:
    """The sampler thread, or None where threads cannot start (WebAssembly) or may not run
    beside a test's profiler (free-threaded builds before Python 3.15)."""
    if not profilers_see_other_threads_safely():
        return None
    try:
        return Sampler()
    except RuntimeError:
        return None
