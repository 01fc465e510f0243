"""Writing the files the plugin and its command line produce: one way, for every output.

A reader never sees half a file: a regular file (or a new one) is written to a temporary file
beside it that then replaces it. What is not a regular file is written into as it is: a
FIFO, a character device such as ``/dev/null``. A name for one of the process's own open
streams (``/dev/stdout``, ``/dev/stderr``, ``/dev/fd/N``, ``/proc/self/fd/N``) is written to
that stream, after what the process wrote there before, whatever it is connected to (a
terminal, a pipe, or a file the shell redirected it to, which is neither replaced nor cut
short): so ``--memray-json /dev/stdout`` prints the document. A symbolic link is followed,
and the file it points to is replaced, so the link stays a link. A new file gets the mode any
program's new file gets (``0666`` less the umask, so ``0644`` by default); a replaced file
keeps its mode.
"""

from __future__ import annotations

import os
import re
import stat
import sys
import tempfile
import uuid
from pathlib import Path

_STREAMS = {"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}
_FD_NAME = re.compile(r"^/(?:dev/fd|proc/self/fd)/(?P<fd>[0-9]+)$")


def stream_fd(path: Path | str) -> int | None:
    """The descriptor ``path`` names when it is one of the process's own streams (POSIX)."""
    if os.name == "nt":
        return None
    name = os.path.normpath(os.fspath(path))
    if name in _STREAMS:
        return _STREAMS[name]
    found = _FD_NAME.match(name)
    return int(found.group("fd")) if found else None


def _write_fd(fd: int, data: bytes) -> None:
    for stream in (sys.stdout, sys.stderr):  # what Python buffered comes first
        try:
            if stream is not None and stream.fileno() == fd:
                stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def write_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` as described above; raises OSError when it cannot."""
    fd = stream_fd(path)
    if fd is not None:
        _write_fd(fd, data)
        return
    target = Path(os.path.realpath(path))
    try:
        existing: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        existing = None
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        if stat.S_ISDIR(existing.st_mode):
            raise IsADirectoryError(21, "Is a directory", str(path))
        with open(target, "wb") as stream:  # a FIFO or a device: written into, never replaced
            stream.write(data)
        return
    # A short name of its own: the target's may already be as long as names get.
    partial = target.with_name(f".pytest-memray-{uuid.uuid4().hex[:12]}.partial")
    # 0o666: the umask applies, as to any new file; a file that existed keeps its mode.
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        if existing is not None:
            os.chmod(partial, stat.S_IMODE(existing.st_mode))
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    """:func:`write_file` for text, encoded as UTF-8."""
    write_file(path, text.encode("utf-8"))


def unwritable_reason(folder: Path) -> str | None:
    """Why no file can be written in ``folder`` (made if missing), or None when one can.

    A probe file is made and removed: the only test that holds for every user, root
    included, and for read-only file systems. A file where a folder of the path should be is
    named (the system's own words differ: "File exists", "Not a directory", "File already
    exists", and none says which part is wrong).
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".pytest-memray-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        in_the_way = _file_in_the_way(folder)
        if in_the_way is not None:
            return f"{in_the_way} is a file, not a folder"
        return exc.strerror or str(exc)
    return None


def _file_in_the_way(folder: Path) -> Path | None:
    """The nearest of ``folder`` and its parents that exists, when it is not a folder."""
    for candidate in (folder, *folder.parents):
        try:
            mode = os.stat(candidate).st_mode
        except OSError:
            continue  # missing, or under a file (ENOTDIR): look further up
        return None if stat.S_ISDIR(mode) else candidate
    return None


def output_problem(path: Path) -> str | None:
    """Why :func:`write_file` could not write ``path`` at all, or None when it can try.

    A stream, FIFO or device is written into as it is, so only a regular file (or a new one)
    needs a folder where a file can be made; a folder is refused.
    """
    if stream_fd(path) is not None:
        return None
    target = Path(os.path.realpath(path))
    try:
        mode = os.stat(target).st_mode
    except OSError:
        mode = None
    if mode is not None and stat.S_ISDIR(mode):
        return "it is a directory"
    if mode is not None and not stat.S_ISREG(mode):
        return None
    return unwritable_reason(target.parent)


def same_file(first: Path | str, second: Path | str) -> bool:
    """Whether two names are one file (through links, relative paths, or hard links)."""
    try:
        return os.path.samefile(first, second)
    except (OSError, ValueError):
        return os.path.realpath(first) == os.path.realpath(second)
