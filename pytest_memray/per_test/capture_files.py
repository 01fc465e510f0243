"""Names for the capture files kept with ``--memray-bin-path``.

A test id such as ``tests/test_a.py::test_b[x/y:1]`` becomes a name that is valid on Windows as
well as POSIX: none of ``\\ / : * ? " < > |`` or control characters, no trailing dot or space,
no reserved device name, at most 255 bytes in UTF-8, and distinct per test (a short hash of
the full id is appended, so ids that differ only in replaced characters stay apart). The name
never contains a path separator, so the file stays inside its folder.
"""

from __future__ import annotations

import hashlib
import re

MAX_NAME_BYTES = 255
_FORBIDDEN = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]')
_RESERVED = re.compile(r"^(CON|PRN|AUX|NUL|COM[0-9¹²³]|LPT[0-9¹²³])$", re.IGNORECASE)


def _clean(text: str) -> str:
    return _FORBIDDEN.sub("_", text)


def _truncate_utf8(text: str, max_bytes: int) -> str:
    encoded = text.encode("utf-8")[:max_bytes]
    return encoded.decode("utf-8", errors="ignore")


def capture_file_name(prefix: str, nodeid: str, suffix: str) -> str:
    """The capture file name for ``nodeid``, starting with ``prefix`` and ending in ``suffix``."""
    digest = hashlib.sha256(nodeid.encode("utf-8")).hexdigest()[:12]
    head = _clean(prefix)
    tail = f"-{digest}{_clean(suffix)}"
    room = MAX_NAME_BYTES - len(head.encode("utf-8")) - len(tail.encode("utf-8")) - 1
    if room < 1:
        head = _truncate_utf8(head, MAX_NAME_BYTES - len(tail.encode("utf-8")) - 1)
        room = 0
    body = _truncate_utf8(_clean(nodeid), room) if room else ""
    stem = f"{head}-{body}" if body else head
    stem = stem.rstrip(" .") or "_"
    if _RESERVED.match(stem.split(".")[0]):
        stem = "_" + stem
    return f"{stem}{tail}"
