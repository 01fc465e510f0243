"""The peak RSS of a pytest process started by a benchmark, measured by the process itself.

``ru_maxrss`` from ``os.wait4`` is not used alone on Linux: a child's figure starts at the RSS
of the process that forked it, so a benchmark runner that has grown would lift the figures of
small runs to its own size. Instead the child loads the tiny pytest plugin below (``-p
bench_peak_rss``, found through ``PYTHONPATH``), which writes its own high-water mark
(``VmHWM``, counted from its exec) to a file as it exits. Where there is no ``/proc`` (macOS)
nothing is written and the rusage figure is used.
"""

from __future__ import annotations

import sys
from pathlib import Path

#: The plugin's module name: ``-p bench_peak_rss`` loads it.
PLUGIN_NAME = "bench_peak_rss"
#: The environment variable naming the file the plugin writes.
FILE_VARIABLE = "BENCH_PEAK_RSS_FILE"

PLUGIN_SOURCE = f'''\
"""Writes this process's peak RSS (VmHWM) to ${FILE_VARIABLE} as it exits; Linux only."""

import atexit
import os


def _write_peak():
    path = os.environ.get("{FILE_VARIABLE}")
    try:
        with open("/proc/self/status") as status:
            found = [line.split()[1] for line in status if line.startswith("VmHWM:")]
    except OSError:
        return
    if path and found:
        with open(path, "w") as out:
            out.write(str(int(found[0]) * 1024))


def pytest_configure(config):
    atexit.register(_write_peak)
'''


def write_plugin(folder: Path) -> None:
    """Put the plugin module in ``folder`` (to be on the children's ``PYTHONPATH``)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{PLUGIN_NAME}.py"
    if not path.exists() or path.read_text() != PLUGIN_SOURCE:
        path.write_text(PLUGIN_SOURCE)


def maxrss_bytes(value: int) -> int:
    """``ru_maxrss`` in bytes: it is in bytes on macOS and in KiB on Linux."""
    return value if sys.platform == "darwin" else value * 1024


def peak_rss_bytes(peak_file: Path, usage_maxrss: int) -> int:
    """The process's own peak RSS where it wrote it to ``peak_file``, else the rusage one."""
    try:
        return int(peak_file.read_text())
    except (OSError, ValueError):
        return maxrss_bytes(usage_maxrss)
