"""The sampler thread: one per process, it reads the traced total of the test being watched.

Where a thread cannot start (WebAssembly), :func:`start_sampler` gives None and the profile
hook watches the whole call instead.
"""

from __future__ import annotations

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


def start_sampler() -> Sampler | None:
    """The sampler thread, or None where threads cannot start (WebAssembly)."""
    try:
        return Sampler()
    except RuntimeError:
        return None
