"""The memray backend measures a test that made millions of records in a batch with a Tracker
of its own from the next run on, remembering it in pytest's cache; only the time changes."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from pytest_memray.backends.memray.advice import MeasureAloneAdvice

from ...helpers import (
    MEMRAY_MISSING,
    report_blocks,
    requires_memray,
    requires_subprocess,
    requires_xdist,
)

if MEMRAY_MISSING is None:
    from pytest_memray.backends.memray.replay import ALONE_RECORDS
else:  # only the tracemalloc cases run, and any count will do for them
    ALONE_RECORDS = 100_000

#: One test whose allocations and frees make more records than ALONE_RECORDS, one with few.
CHURN = f"""
def test_churn():
    for _ in range({ALONE_RECORDS // 2 + 1000}):
        bytes(1000)

def test_quiet():
    kept = bytearray(4096)
"""

CHURN_ID = "test_churn.py::test_churn"
QUIET_ID = "test_churn.py::test_quiet"


# -- the notes themselves ------------------------------------------------------------------


def _write(folder: Path, process: str, notes: object, age: float) -> None:
    path = folder / f"measure-alone-{process}.json"
    path.write_text(json.dumps(notes), encoding="utf-8")
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))


def test_notes_are_saved_per_process_and_read_back(tmp_path: Path) -> None:
    advice = MeasureAloneAdvice(tmp_path, "gw1")
    assert not advice.measure_alone("t::a")
    advice.note("t::a", True)
    advice.note("t::b", False)
    advice.save()
    assert json.loads((tmp_path / "measure-alone-gw1.json").read_text()) == {
        "t::a": True,
        "t::b": False,
    }
    again = MeasureAloneAdvice(tmp_path, "main")
    assert again.measure_alone("t::a")
    assert not again.measure_alone("t::b")


def test_the_latest_note_wins_whichever_process_made_it(tmp_path: Path) -> None:
    _write(tmp_path, "gw0", {"t::moved": True, "t::kept": True}, age=100)
    _write(tmp_path, "gw1", {"t::moved": False}, age=10)
    advice = MeasureAloneAdvice(tmp_path, "main")
    assert not advice.measure_alone("t::moved")
    assert advice.measure_alone("t::kept")  # not run since: its note stands


def test_unreadable_notes_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "measure-alone-gw0.json").write_text("{not json", encoding="utf-8")
    _write(tmp_path, "gw1", ["t::a"], age=1)
    _write(tmp_path, "main", {"t::b": True, "t::c": "yes"}, age=0)
    advice = MeasureAloneAdvice(tmp_path, "main")
    assert advice.measure_alone("t::b")
    assert not advice.measure_alone("t::a")
    assert not advice.measure_alone("t::c")


def test_without_a_folder_nothing_is_read_or_written(tmp_path: Path) -> None:
    advice = MeasureAloneAdvice(None, "main")
    advice.note("t::a", True)
    advice.save()
    assert not advice.measure_alone("t::a")


# -- through the plugin ----------------------------------------------------------------------


def _notes(pytester: pytest.Pytester) -> dict[str, bool]:
    """Every note the memray backend saved in pytest's cache, all processes together."""
    folder = pytester.path / ".pytest_cache" / "d" / "pytest-memray" / "memray"
    notes: dict[str, bool] = {}
    for path in sorted(folder.glob("measure-alone-*.json")):
        notes.update(json.loads(path.read_text(encoding="utf-8")))
    return notes


@requires_memray
def test_a_test_with_many_records_gets_a_tracker_of_its_own_next_time(
    pytester: pytest.Pytester, trackers: list[object]
) -> None:
    pytester.makepyfile(test_churn=CHURN)
    args = ("--memray", "--memray-backend=memray", "-p", "no:randomly", "--most-allocations=0")

    first = pytester.runpytest(*args)
    assert first.ret == 0
    assert len(trackers) == 1  # one batch for both tests
    assert _notes(pytester) == {CHURN_ID: True, QUIET_ID: False}

    trackers.clear()
    second = pytester.runpytest(*args)
    assert second.ret == 0
    assert len(trackers) == 2  # the churn test's own, and a batch for the quiet one
    # Only the time changes: the figures are the same.
    assert report_blocks(second.outlines) == report_blocks(first.outlines)
    assert _notes(pytester) == {CHURN_ID: True, QUIET_ID: False}


@pytest.mark.parametrize("backend", [pytest.param("memray", marks=requires_memray), "tracemalloc"])
def test_without_the_cache_plugin_nothing_is_remembered(
    pytester: pytest.Pytester, backend: str
) -> None:
    pytester.makepyfile(test_churn=CHURN)
    result = pytester.runpytest("--memray", f"--memray-backend={backend}", "-p", "no:cacheprovider")
    assert result.ret == 0
    assert len(report_blocks(result.outlines)) == 2
    assert not (pytester.path / ".pytest_cache").exists()


def test_the_tracemalloc_backend_notes_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_churn=CHURN)
    assert pytester.runpytest("--memray", "--memray-backend=tracemalloc").ret == 0
    assert _notes(pytester) == {}


#: Each process writes how many memray Trackers it made, and how many were batches.
COUNT_TRACKERS = """
import json
import memray

MADE = []
_real = memray.Tracker

def _counting(*args, **kwargs):
    MADE.append(kwargs.get("file_format") == memray.FileFormat.ALL_ALLOCATIONS)
    return _real(*args, **kwargs)

memray.Tracker = _counting

def pytest_sessionfinish(session):
    # Not PYTEST_XDIST_WORKER: the outer run may be an xdist worker, whose environment
    # this run's controller inherits.
    workerinput = getattr(session.config, "workerinput", None)
    name = "controller" if workerinput is None else workerinput["workerid"]
    with open(f"trackers-{name}.json", "w") as out:
        json.dump(MADE, out)
"""


def _batches(pytester: pytest.Pytester) -> list[bool]:
    """Whether each Tracker the xdist workers made was a batch; their files are removed."""
    made: list[bool] = []
    for path in sorted(pytester.path.glob("trackers-gw*.json")):
        made += json.loads(path.read_text(encoding="utf-8"))
        path.unlink()
    return sorted(made)


@requires_memray
@requires_xdist
@requires_subprocess
def test_under_xdist_each_worker_saves_and_every_worker_reads(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(COUNT_TRACKERS)
    pytester.makepyfile(test_churn=CHURN)
    args = ("--memray", "--memray-backend=memray", "-n", "2")

    assert pytester.runpytest_subprocess(*args).ret == 0
    assert _notes(pytester) == {CHURN_ID: True, QUIET_ID: False}
    first = _batches(pytester)
    assert first
    assert False not in first  # batches only

    assert pytester.runpytest_subprocess(*args).ret == 0
    assert False in _batches(pytester)  # the churn test had a Tracker of its own
    assert _notes(pytester) == {CHURN_ID: True, QUIET_ID: False}
