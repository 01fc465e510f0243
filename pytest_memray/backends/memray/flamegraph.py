"""Drawing a call's memory as memray's own flamegraph page, from its capture file.

memray's ``flamegraph`` command reads a capture file (the aggregated file a Tracker of its
own writes) and writes one self-contained HTML page of the allocations alive at the peak. It
runs in a process of its own: it is memray's command line, with its own output and exit
status, and a failure there must not touch the session.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

#: Seconds memray may take to draw one page before the attempt is given up.
TIMEOUT = 120


def write_flamegraph(capture_file: Path, target: Path) -> str | None:
    """Write memray's flamegraph of ``capture_file`` to ``target``; None once written, else
    why not."""
    command = [sys.executable, "-m", "memray", "flamegraph", "--force"]
    command += ["--output", str(target), str(capture_file)]
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"memray flamegraph could not run ({exc})"
    if done.returncode != 0 or not target.is_file():
        said = (done.stderr or done.stdout).strip().splitlines()
        return f"memray flamegraph failed ({said[-1] if said else f'status {done.returncode}'})"
    return None
