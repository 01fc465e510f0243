"""A session's working folder is removed only when no live process holds it, in any PID
namespace (two containers sharing /tmp each see only their own process ids)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ...helpers import requires_memray

pytestmark = [
    requires_memray,
    pytest.mark.skipif(sys.platform == "win32", reason="the memray backend runs on POSIX"),
]

#: Removes what it takes for abandoned in the folder given, as a new session would.
CLEANUP = """
import sys
from pathlib import Path
from pytest_memray.backends.memray.scratch import remove_abandoned
print(sorted(path.name for path in remove_abandoned(Path(sys.argv[1]))))
"""


def _dead_pid() -> int:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return gone.pid


def test_a_held_folder_is_kept_whatever_its_process_id(tmp_path: Path) -> None:
    from pytest_memray.backends.memray.scratch import hold, release, remove_abandoned

    held = tmp_path / f"pytest-memray-{_dead_pid()}-0123abcd"
    lock = hold(held)
    (held / "batch-1.bin").write_bytes(b"x")
    try:
        assert remove_abandoned(tmp_path) == []
        assert (held / "batch-1.bin").exists()
    finally:
        release(lock)
    assert remove_abandoned(tmp_path) == [held]  # nobody holds it now
    assert not held.exists()


def test_a_folder_of_a_live_process_that_holds_no_lock_any_more_is_removed(
    tmp_path: Path,
) -> None:
    from pytest_memray.backends.memray.scratch import hold, release, remove_abandoned

    # this process is alive, but the session that made the folder ended without removing it
    left = tmp_path / f"pytest-memray-{os.getpid()}-4567cdef"
    release(hold(left))
    assert remove_abandoned(tmp_path) == [left]


def _unshare() -> list[str]:
    """How to run a command in a PID namespace of its own, or skip."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("needs unshare(1)")
    probe = subprocess.run([unshare, "-p", "-f", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a PID namespace here: {probe.stderr.decode().strip()}")
    return [unshare, "-p", "-f"]


def test_a_session_in_another_pid_namespace_keeps_away_from_a_running_sessions_folder(
    tmp_path: Path,
) -> None:
    """The cleanup runs where this process's id names no process: it must still see that the
    folder is held. A folder that nobody holds is removed from there all the same."""
    from pytest_memray.backends.memray.scratch import hold, release

    unshare = _unshare()
    running = tmp_path / f"pytest-memray-{os.getpid()}-0123abcd"
    abandoned = tmp_path / f"pytest-memray-{os.getpid() + 1}-4567cdef"
    lock = hold(running)
    release(hold(abandoned))
    try:
        cleanup = subprocess.run(
            [*unshare, sys.executable, "-c", CLEANUP, str(tmp_path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert cleanup.returncode == 0, cleanup.stderr
        assert cleanup.stdout.strip() == repr([abandoned.name])
        assert running.exists()
    finally:
        release(lock)
