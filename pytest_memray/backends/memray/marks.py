"""Boundary marks: how a batch tells, in its capture file, where each test call starts and ends.

Each call is bracketed by two marks: zero-filled ``bytes`` objects of 256 MiB and more
(allocated with ``calloc``, so no page is touched), each of its own size, made by
:func:`place_mark` and freed at once. Mark ``n`` of a batch is ``MARK_BASE + n * MARK_STEP``
bytes long; call ``c`` opens with mark ``2c`` and closes with mark ``2c + 1``. A record is a
mark only if it has the expected size *and* its innermost frame is :func:`place_mark`, so a
test allocating that very size is not taken for a boundary.
"""

from __future__ import annotations

import sys
from typing import Any

#: Size of the first boundary mark; mark ``n`` is ``MARK_BASE + n * MARK_STEP`` bytes long.
MARK_BASE = 256 * 1024 * 1024 + 7
MARK_STEP = 4096


def mark_size(index: int) -> int:
    """What memray records for boundary mark ``index``: the object's whole allocation."""
    return sys.getsizeof(b"") + MARK_BASE + index * MARK_STEP


def place_mark(size: int) -> None:
    mark = bytes(size)  # calloc'ed: costs no memory
    del mark


def marks_fit(batch_size: int) -> bool:
    """Whether this process may ask for a boundary mark's size (costs no memory if it may).

    Under a strict overcommit policy or a small address-space limit it may not; every test
    then gets a Tracker of its own, as without batching. Should a mark fail later in the
    session, batching stops from the next test on.
    """
    try:
        place_mark(MARK_BASE + batch_size * 2 * MARK_STEP)
    except MemoryError:
        return False
    return True


#: How memray names the innermost frame of a boundary mark: function and source file.
_MARK_FRAME = (place_mark.__code__.co_name, place_mark.__code__.co_filename)


def is_mark(record: Any) -> bool:
    """Whether an allocation of a mark's size was made by :func:`place_mark`.

    Only records of exactly a mark's size get here, so the stack is looked at rarely; a test
    that allocates the same size from its own code is not taken for a boundary.
    """
    frames = record.stack_trace(max_stacks=1)
    return bool(frames) and frames[0][:2] == _MARK_FRAME
