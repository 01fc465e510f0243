"""Whether a capture file memray wrote is complete, and if not, why it may have been cut short.

When memray cannot grow its file it stops recording and says so only on stderr; a file cut
short then reads as a call that allocated little or nothing. What tells a complete file is
its end: memray closes an uncompressed file with a *trailer*, one byte that says which format
the file has, after which only zero bytes of padding may follow (:func:`is_complete`); the
backend asks memray not to compress the files it checks. A file that has it is trusted,
however little room the disk has left. One without it (a memray that writes none, or a file
cut short) is not trusted when it ended near the file-size limit (``ulimit -f``) or on a disk
without room, the only ways for memray to be cut short (:func:`storage_problem`).
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

#: Room a capture file must have had left to be trusted without its trailer.
_WRITE_MARGIN = 1024 * 1024
#: How an uncompressed capture file starts.
_MAGIC = b"memray\0"
#: The trailer of memray's aggregated capture files (the files of a Tracker of its own).
AGGREGATED_TRAILER = 0x0F
#: Bytes read from the end of a file to find its trailer behind memray's zero padding.
_TAIL = 64 * 1024


def is_complete(path: Path, trailer: int = AGGREGATED_TRAILER) -> bool:
    """Whether the uncompressed capture file at ``path`` ends with memray's ``trailer``."""
    try:
        with open(path, "rb") as capture:
            if capture.read(len(_MAGIC)) != _MAGIC:
                return False
            end = capture.seek(0, os.SEEK_END)
            while end > len(_MAGIC):
                start = max(len(_MAGIC), end - _TAIL)
                capture.seek(start)
                tail = capture.read(end - start).rstrip(b"\0")
                if tail:
                    return tail[-1] == trailer
                end = start
    except OSError:
        return False
    return False


def capture_problem(path: Path) -> str | None:
    """Why the capture file at ``path`` cannot be trusted, or None when it can."""
    if is_complete(path):
        return None
    return storage_problem(path)


def storage_problem(path: Path) -> str | None:
    """Why the capture file at ``path`` may have been cut short, or None.

    Only for a file that has no trailer (memray versions before the trailer, or a file cut
    short): one that ended near the file size limit (``ulimit -f``), or on a disk with no room
    left, is not trusted.
    """
    try:
        size = path.stat().st_size
        limit, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
        if limit != resource.RLIM_INFINITY and size + _WRITE_MARGIN > limit:
            return (
                f"its capture file reached the file size limit of {limit} bytes (ulimit -f), "
                "so memray may have stopped recording"
            )
        folder = os.statvfs(path.parent)
        if folder.f_bavail * folder.f_frsize < _WRITE_MARGIN:
            return "the disk holding its capture file is full, so memray may have stopped recording"
    except OSError as exc:
        return f"its capture file could not be checked ({exc})"
    return None
