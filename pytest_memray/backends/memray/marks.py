"""Boundary marks: how a batch tells, in its capture file, where each test call starts and ends.

Nothing here depends on the Python stacks memray records, because those come from a profile
hook (``sys.setprofile``) that a test, a fixture or a profiler such as :mod:`cProfile` may
replace at any time; the boundaries are told by the records themselves:

* **The opening mark** of call ``c`` is a zero-filled ``bytes`` object of
  ``MARK_BASE + c * MARK_STEP`` bytes (256 MiB and more, allocated with ``calloc``, so no
  page is touched), made by :func:`place_mark` and freed at once. Between two calls only
  pytest's and the fixtures' code runs, never a test's, so an allocation of that exact,
  odd size there is the mark. To be sure, one of the next :data:`MARK_TO_ANCHOR`
  allocations of the same thread (a profile function that a fixture installed runs, and may
  allocate, on the calls in between) must be...
* **the anchor**: a small ``bytes`` object of :data:`ANCHOR` bytes, made right after the mark
  and kept alive during the test. The window of the call starts after the anchor is made and
  ends where it is freed, the first thing after the test's code returns: no test can free
  memory it does not hold, so nothing a test does can end a window early or late, whatever
  sizes it allocates.
* **The probe**, a small allocation of :data:`PROBE` bytes made by :func:`place_probe` right
  after the window, tells whether memray still saw Python frames when the test ended: its
  innermost frame is :func:`place_probe` when it did, and missing when the test replaced the
  profile hook.

Before and after a window the backend gives memray its profile hook back unless another
profiler holds it (:mod:`.hooks`), so the tests after one that replaced it get their locations.
"""

from __future__ import annotations

import sys
from typing import Any

from pytest_memray.backends.interface import is_plugin_file

#: Size of the first opening mark; call ``c`` opens with ``MARK_BASE + c * MARK_STEP`` bytes.
MARK_BASE = 256 * 1024 * 1024 + 7
MARK_STEP = 4096
#: How many allocations of the marking thread may come between a mark and its anchor.
MARK_TO_ANCHOR = 64
#: Bytes of the anchor kept alive during a call (more than pymalloc's 512, so that memray
#: records it without ``--trace-python-allocators``).
ANCHOR = 1031
#: Bytes of the probe placed after a call.
PROBE = 1043
_HEADER = sys.getsizeof(b"")
#: What memray records for an anchor and a probe: the objects' whole allocations.
ANCHOR_SIZE = _HEADER + ANCHOR
PROBE_SIZE = _HEADER + PROBE


def mark_size(call: int) -> int:
    """What memray records for the opening mark of call ``call``: the whole allocation."""
    return _HEADER + MARK_BASE + call * MARK_STEP


def place_mark(size: int) -> None:
    mark = bytes(size)  # calloc'ed: costs no memory
    del mark


def place_probe() -> None:
    probe = bytes(PROBE)
    del probe


def marks_fit(batch_size: int) -> bool:
    """Whether this process may ask for a boundary mark's size (costs no memory if it may).

    Under a strict overcommit policy or a small address-space limit it may not; every test
    then gets a Tracker of its own, as without batching. Should a mark fail later in the
    session, batching stops from the next test on.
    """
    try:
        place_mark(MARK_BASE + batch_size * MARK_STEP)
    except MemoryError:
        return False
    return True


_PROBE_FRAME = (place_probe.__code__.co_name, place_probe.__code__.co_filename)


def saw_frames(record: Any, probe: bool = False) -> bool:
    """Whether memray saw the plugin's own Python frame when it recorded ``record`` (an anchor,
    or a probe when ``probe``): False when the profile hook it uses was not its own then."""
    frames = record.stack_trace(max_stacks=1)
    if not frames:
        return False
    if probe:
        return bool(frames[0][:2] == _PROBE_FRAME)
    return is_plugin_file(str(frames[0][1]))
