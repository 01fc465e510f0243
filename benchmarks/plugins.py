"""The small pytest plugins the benchmarks load into the pytest processes they start.

Written as modules into a folder that is on the children's ``PYTHONPATH`` (the same folder for
every configuration) and loaded with ``-p NAME``:

* the **floors**, what the tracing libraries cost by themselves, with nothing of a plugin:

  - ``bench_bare_tracemalloc``: ``tracemalloc.start()`` before each test call and
    ``tracemalloc.stop()`` after it, reading the peak in between. It wraps
    ``pytest_runtest_call``, so every kind of test is measured (functions, ``unittest``
    methods, doctests, other plugins' items), not only what ``pytest_pyfunc_call`` sees;
  - ``bench_bare_memray_call``: a ``memray.Tracker`` (aggregated capture file, as the published
    plugin writes) started before each test call and stopped after it, its peak read from the
    file's header, the file deleted;
  - ``bench_bare_memray``: one ``memray.Tracker`` from the end of collection to the end of the
    session: what memray's own tracking costs the tests and pytest's work between them, with no
    Tracker started per test (the floor of a plugin that batches, as this one does);

  Each floor wraps the call as the innermost hook wrapper (``trylast``), so that it traces the
  test and as little of pytest's own work as it can, and counts the calls it measured.

* ``bench_probe``: writes a JSON document to ``$BENCH_PROBE_FILE`` as the process ends: how
  many test calls ran, how many of them were ``unittest`` methods, how many tests the
  configuration measured (read from the floor's counter, from this plugin's result collector, or
  from the published plugin's results), and, when ``$BENCH_PROBE_EVERY`` is set, the process's
  memory every that many tests (resident set, Python's allocated blocks, glibc's heap in use and
  free); ``$BENCH_PROBE_CENSUS=1`` adds a count of the garbage-collected objects by type at each
  checkpoint, and ``$BENCH_PROBE_MODULES=1`` the names in ``sys.modules`` at the end. The probe
  reads other plugins' private attributes: it is for benchmarks only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROBE_NAME = "bench_probe"
PROBE_FILE_VARIABLE = "BENCH_PROBE_FILE"
PROBE_EVERY_VARIABLE = "BENCH_PROBE_EVERY"
PROBE_CENSUS_VARIABLE = "BENCH_PROBE_CENSUS"
PROBE_MODULES_VARIABLE = "BENCH_PROBE_MODULES"

BARE_TRACEMALLOC = "bench_bare_tracemalloc"
BARE_MEMRAY_CALL = "bench_bare_memray_call"
BARE_MEMRAY_SESSION = "bench_bare_memray"

_BARE_TRACEMALLOC_SOURCE = '''\
"""tracemalloc started before each test call and stopped after it; nothing else.

Wraps pytest_runtest_call (innermost), so unittest methods and doctests are measured too.
"""

import tracemalloc

import pytest

MEASURED = [0]


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtest_call(item):
    tracemalloc.start()
    yield
    tracemalloc.get_traced_memory()  # the peak, as a plugin would read it
    tracemalloc.stop()
    MEASURED[0] += 1
'''

_BARE_MEMRAY_CALL_SOURCE = '''\
"""A memray Tracker started before each test call and stopped after it; nothing else.

Aggregated capture file (as the published plugin writes), the peak read from its header, the
file deleted. Wraps pytest_runtest_call (innermost), so every kind of test is measured.
"""

import os
import tempfile

import memray
import pytest

MEASURED = [0]
_FOLDER = []


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtest_call(item):
    if not _FOLDER:
        _FOLDER.append(tempfile.mkdtemp(prefix="bench-bare-memray-call-"))
    path = os.path.join(_FOLDER[0], "call.bin")
    tracker = memray.Tracker(path, file_format=memray.FileFormat.AGGREGATED_ALLOCATIONS)
    tracker.__enter__()
    try:
        yield
    finally:
        tracker.__exit__(None, None, None)
    memray.FileReader(path).metadata.peak_memory
    os.unlink(path)
    MEASURED[0] += 1


def pytest_unconfigure(config):
    if _FOLDER:
        os.rmdir(_FOLDER.pop())
'''

_BARE_MEMRAY_SESSION_SOURCE = '''\
"""One memray Tracker from the end of collection to the end of the session; nothing else.

What memray's own tracking costs the tests (and pytest's work between them), without a
Tracker started and stopped around each test.
"""

import os
import tempfile

import memray
import pytest

_SESSION = {}


def pytest_collection_finish(session):
    folder = tempfile.mkdtemp(prefix="bench-bare-memray-")
    path = os.path.join(folder, "session.bin")
    tracker = memray.Tracker(path, file_format=memray.FileFormat.AGGREGATED_ALLOCATIONS)
    tracker.__enter__()
    _SESSION.update(tracker=tracker, folder=folder, path=path)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    tracker = _SESSION.pop("tracker", None)
    if tracker is not None:
        tracker.__exit__(None, None, None)
        os.unlink(_SESSION["path"])
        os.rmdir(_SESSION["folder"])
'''

_PROBE_SOURCE = f'''\
"""Counts test calls and what was measured; memory checkpoints; writes JSON at the end.

For benchmarks only: it reads other plugins' private attributes.
"""

import gc
import json
import os
import sys

import pytest

_FILE = os.environ.get("{PROBE_FILE_VARIABLE}")
_EVERY = int(os.environ.get("{PROBE_EVERY_VARIABLE}") or 0)
_CENSUS = os.environ.get("{PROBE_CENSUS_VARIABLE}") == "1"
_MODULES = os.environ.get("{PROBE_MODULES_VARIABLE}") == "1"
_STATE = {{"calls": 0, "unittest": 0, "finished": 0, "checkpoints": [], "census": []}}
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_MALLINFO = []


def _mallinfo():
    """glibc's heap: (bytes in use, bytes free, bytes in mmapped chunks); None elsewhere."""
    if not _MALLINFO:
        try:
            import ctypes

            class Info(ctypes.Structure):
                _fields_ = [
                    (name, ctypes.c_size_t)
                    for name in (
                        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                        "fsmblks", "uordblks", "fordblks", "keepcost",
                    )
                ]

            libc = ctypes.CDLL(None)
            function = libc.mallinfo2
            function.restype = Info
            _MALLINFO.append(function)
        except (OSError, AttributeError, ImportError):
            _MALLINFO.append(None)
    function = _MALLINFO[0]
    if function is None:
        return None
    info = function()
    return [info.uordblks, info.fordblks, info.hblkhd]


def _resident():
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except OSError:
        return None


def _type_name(kind):
    module = getattr(kind, "__module__", None)
    return (module if isinstance(module, str) else "?") + "." + kind.__qualname__


def _census():
    """Objects by type: [count, bytes], the garbage-collected ones and what they hold that
    the collector does not track (strings, numbers, bytes), each object counted once."""
    counts = {{}}
    seen = set()
    tracked = gc.get_objects()
    for obj in tracked:
        seen.add(id(obj))
    for obj in tracked:
        for found in (obj, *gc.get_referents(obj)):
            if found is not obj:
                if id(found) in seen or gc.is_tracked(found):
                    continue
                seen.add(id(found))
            row = counts.setdefault(_type_name(type(found)), [0, 0])
            row[0] += 1
            try:
                row[1] += sys.getsizeof(found)
            except TypeError:
                pass
    return counts


def _checkpoint():
    done = _STATE["finished"]
    _STATE["checkpoints"].append(
        [done, _resident(), sys.getallocatedblocks(), len(gc.get_objects()), _mallinfo()]
    )


def pytest_collection_finish(session):
    _STATE["total"] = len(session.items)


def pytest_runtest_logreport(report):
    if report.when == "call":
        _STATE["calls"] += 1


def pytest_runtest_call(item):
    if type(item).__name__ == "TestCaseFunction":
        _STATE["unittest"] += 1


@pytest.hookimpl(trylast=True)
def pytest_runtest_logfinish(nodeid, location):
    _STATE["finished"] += 1
    done = _STATE["finished"]
    if _EVERY and done % _EVERY == 0:
        _checkpoint()
    total = _STATE.get("total", 0)
    if _CENSUS and done in (total // 4, total):  # after the first quarter, and at the end
        _STATE["census"].append([done, _census()])


def _measured(config):
    """(how many tests the configuration measured, by whom); (None, "") when nothing did."""
    manager = config.pluginmanager
    for name in ("{BARE_TRACEMALLOC}", "{BARE_MEMRAY_CALL}"):
        floor = manager.get_plugin(name)
        if floor is not None:
            return floor.MEASURED[0], name
    if manager.get_plugin("{BARE_MEMRAY_SESSION}") is not None:
        return None, "one tracker for the session"
    published = manager.get_plugin("memray_manager")
    if type(published).__module__ == "pytest_memray.plugin":
        return len(getattr(published, "results", {{}})), "published plugin"
    for plugin in manager.get_plugins():
        if type(plugin).__name__ == "ResultCollector":
            results = getattr(plugin, "results", {{}})
            measured = sum(1 for r in results.values() if r.peak_bytes is not None)
            return measured, "this plugin"
    return None, ""


@pytest.hookimpl(tryfirst=True)
def pytest_unconfigure(config):
    if not _FILE:
        return
    measured, by = _measured(config)
    document = {{
        "calls": _STATE["calls"],
        "unittest": _STATE["unittest"],
        "measured": measured,
        "measured_by": by,
        "checkpoints": _STATE["checkpoints"],
        "census": _STATE["census"],
    }}
    if _MODULES:
        document["modules"] = sorted(sys.modules)
    with open(_FILE, "w") as out:
        json.dump(document, out)
'''

SOURCES: dict[str, str] = {
    BARE_TRACEMALLOC: _BARE_TRACEMALLOC_SOURCE,
    BARE_MEMRAY_CALL: _BARE_MEMRAY_CALL_SOURCE,
    BARE_MEMRAY_SESSION: _BARE_MEMRAY_SESSION_SOURCE,
    PROBE_NAME: _PROBE_SOURCE,
}


def write_plugins(folder: Path) -> None:
    """Put every plugin module in ``folder`` (to be on the children's ``PYTHONPATH``)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in SOURCES.items():
        path = folder / f"{name}.py"
        if not path.exists() or path.read_text() != source:
            path.write_text(source)


@dataclass(frozen=True)
class Checkpoint:
    """The process's memory after ``tests`` tests finished."""

    tests: int
    resident: int | None
    blocks: int
    gc_objects: int
    #: glibc's heap: bytes in use, bytes free, bytes in mmapped chunks (None elsewhere).
    heap: tuple[int, int, int] | None


@dataclass(frozen=True)
class Probe:
    """What ``bench_probe`` wrote for one pytest process."""

    calls: int
    unittest: int
    #: Tests the configuration measured; None when it measures none one by one.
    measured: int | None
    measured_by: str
    checkpoints: tuple[Checkpoint, ...] = ()
    #: (tests finished, {type name: (objects, bytes)}) at the census points.
    census: tuple[tuple[int, Mapping[str, tuple[int, int]]], ...] = ()
    modules: tuple[str, ...] = field(default=())


def parse_probe(document: Mapping[str, Any]) -> Probe:
    checkpoints = tuple(
        Checkpoint(
            tests=int(row[0]),
            resident=None if row[1] is None else int(row[1]),
            blocks=int(row[2]),
            gc_objects=int(row[3]),
            heap=None if row[4] is None else (int(row[4][0]), int(row[4][1]), int(row[4][2])),
        )
        for row in document.get("checkpoints", ())
    )
    census = tuple(
        (int(done), {name: (int(row[0]), int(row[1])) for name, row in counts.items()})
        for done, counts in document.get("census", ())
    )
    measured = document.get("measured")
    return Probe(
        calls=int(document.get("calls", 0)),
        unittest=int(document.get("unittest", 0)),
        measured=None if measured is None else int(measured),
        measured_by=str(document.get("measured_by", "")),
        checkpoints=checkpoints,
        census=census,
        modules=tuple(document.get("modules", ())),
    )


def read_probe(path: Path) -> Probe | None:
    """The probe's document for one run; None when the process wrote none (it crashed)."""
    try:
        return parse_probe(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def measured_text(probe: Probe | None) -> str:
    """How many tests a run measured, out of how many calls: ``"600 of 600"``."""
    if probe is None:
        return "n/a"
    if probe.measured is None:
        if probe.measured_by:
            return f"all {probe.calls} ({probe.measured_by})"
        return f"none of {probe.calls}"
    text = f"{probe.measured} of {probe.calls}"
    if probe.measured < probe.calls and probe.unittest:
        text += f" ({probe.unittest} unittest)"
    return text


def slope_per_thousand(points: Sequence[tuple[int, float]]) -> float | None:
    """Least-squares growth of a figure per 1,000 tests; None with fewer than two points."""
    if len(points) < 2:
        return None
    count = len(points)
    mean_x = sum(x for x, _ in points) / count
    mean_y = sum(y for _, y in points) / count
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread == 0:
        return None
    covariance = sum((x - mean_x) * (y - mean_y) for x, y in points)
    return covariance / spread * 1000


def census_growth(
    census: Sequence[tuple[int, Mapping[str, tuple[int, int]]]], top: int = 10
) -> list[tuple[str, float, float]]:
    """The object types whose memory grew most per 1,000 tests between the first and the last
    census: ``[(type name, objects per 1,000 tests, bytes per 1,000 tests)]``, largest first."""
    if len(census) < 2:
        return []
    (first_done, first), (last_done, last) = census[0], census[-1]
    tests = last_done - first_done
    if tests <= 0:
        return []
    growth = []
    for name in set(first) | set(last):
        count_before, bytes_before = first.get(name, (0, 0))
        count_after, bytes_after = last.get(name, (0, 0))
        growth.append(
            (
                name,
                (count_after - count_before) * 1000 / tests,
                (bytes_after - bytes_before) * 1000 / tests,
            )
        )
    growth.sort(key=lambda row: (-row[2], row[0]))
    return [row for row in growth[:top] if row[2] > 0]
