"""Whether memray's capture file may have been cut short by the file-size limit or the disk."""

from __future__ import annotations

import os
import resource
from pathlib import Path

#: Room a capture file must have had left to be trusted (see :func:`storage_problem`).
_WRITE_MARGIN = 1024 * 1024


def storage_problem(path: Path) -> str | None:
    """Why the capture file at ``path`` may be incomplete, or None.

    When memray cannot grow its file it stops recording and says so only on stderr; the file
    then reads as a call that allocated nothing. So a file that ended near the file size
    limit (``ulimit -f``), or on a disk with no room left, is not trusted.
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
