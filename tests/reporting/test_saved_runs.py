"""``--memray-save``, ``--memray-compare``, ``--memray-save-keep`` and ``--memray-html`` in a
pytest run (the saved runs and the HTML page themselves are tested in tests/gates)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pytest_memray.gates.format import SCHEMA_VERSION

from ..helpers import Runner, requires_subprocess

SUITE = """
import os

def test_grows():
    data = bytearray(int(os.environ.get("GROWS_MIB", "1")) * 1024 * 1024)
    assert data

def test_steady():
    data = bytearray(2 * 1024 * 1024)
    assert data
"""


@pytest.fixture
def tm(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Runner:
    """The tracemalloc backend: saving and comparing do not depend on the backend."""
    monkeypatch.delenv("GROWS_MIB", raising=False)
    runner = Runner(pytester, "tracemalloc")
    runner.write(SUITE)
    return runner


def _saved(runner: Runner) -> list[Path]:
    return sorted((runner.pytester.path / ".memray").glob("*/*.json"))


def _page_data(path: Path) -> Any:
    page = path.read_text(encoding="utf-8")
    match = re.search(r'<script type="application/json" id="memray-data">(.*?)</script>', page)
    assert match is not None
    return json.loads(match.group(1))


def test_save_then_compare_fails_the_test_that_grew(
    tm: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = tm.run("--memray", "--memray-save")
    assert first.ret == 0
    saved = _saved(tm)
    assert len(saved) == 1
    assert re.fullmatch(r"0001_nogit_\d{8}T\d{6}Z\.json", saved[0].name)
    assert saved[0].parent.name.endswith("-tracemalloc")
    first.stdout.fnmatch_lines([f"memray: saved this run as .memray/*/{saved[0].name}"])
    assert json.loads(saved[0].read_text(encoding="utf-8"))["version"] == SCHEMA_VERSION

    monkeypatch.setenv("GROWS_MIB", "8")
    second = tm.run("--memray-compare", "--memray-save=bigger")
    assert second.ret == 1
    # pytest 8.0's short summary leaves the message out; the failure section has it.
    second.stdout.fnmatch_lines(
        ["Test peak memory grew from 1.0MiB in the baseline to 8.0MiB*", "*short test summary*"]
    )
    second.stdout.fnmatch_lines(["MEMORY PROBLEMS test_subject.py::test_grows*"])
    assert [path.name[:4] for path in _saved(tm)] == ["0001", "0002"]
    assert _saved(tm)[1].name.endswith("_bigger.json")

    monkeypatch.setenv("GROWS_MIB", "1")
    assert tm.run("--memray-compare=1").ret == 0
    assert tm.run("--memray-compare=bigger").ret == 0  # shrank back: passes


def test_compare_without_a_saved_run_is_a_usage_error(tm: Runner) -> None:
    result = tm.run("--memray-compare")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--memray-compare: no saved run in *.memray*"])
    tm.run("--memray", "--memray-save")
    result = tm.run("--memray-compare=7")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*no saved run '7' in*1 saved; the newest: 0001_*"])


def test_compare_and_baseline_together_are_refused(tm: Runner) -> None:
    tm.run("--memray-save", "--memray-json=b.json")
    result = tm.run("--memray-compare", "--memray-baseline=b.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--memray-baseline and --memray-compare both name a baseline*"])


def test_bad_save_name_is_a_usage_error(tm: Runner) -> None:
    result = tm.run("--memray-save=a/b")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--memray-save=a/b: 'a/b' cannot name a saved run*"])


def test_retention_and_storage_folder(tm: Runner) -> None:
    for _ in range(3):
        assert tm.run("--memray-save", "--memray-storage=runs", "--memray-save-keep=2").ret == 0
    kept = sorted((tm.pytester.path / "runs").glob("*/*.json"))
    assert [path.name[:4] for path in kept] == ["0002", "0003"]
    tm.pytester.makeini("[pytest]\nmemray_storage = runs\nmemray_save_keep = 1\n")
    result = tm.run("--memray", "--memray-save")
    result.stdout.fnmatch_lines(["memray: removed 2 older saved run(s) (--memray-save-keep 1)"])
    assert len(list((tm.pytester.path / "runs").glob("*/*.json"))) == 1


def test_html_report_of_a_run_with_history_and_baseline(
    tm: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = tm.run("--memray", "--memray-html=out/report.html")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["memray: HTML report written to *report.html"])
    data = _page_data(tm.pytester.path / "out" / "report.html")
    assert sorted(test["nodeid"] for test in data["tests"]) == [
        "test_subject.py::test_grows",
        "test_subject.py::test_steady",
    ]
    assert data["history"] is None
    assert data["comparison"] is None

    tm.run("--memray", "--memray-save")
    monkeypatch.setenv("GROWS_MIB", "8")
    result = tm.run("--memray-compare", "--memray-save", "--memray-html=out/report.html")
    assert result.ret == 1
    data = _page_data(tm.pytester.path / "out" / "report.html")
    assert [run["label"] for run in data["history"]["runs"]] == ["#1", "#2"]
    assert data["comparison"]["grew_past_allowance"] == 1
    grows = next(t for t in data["tests"] if t["nodeid"].endswith("test_grows"))
    assert grows["outcome"] == "failed"
    assert 1024 * 1024 <= grows["baseline"] < 1024 * 1024 + 4096


def test_html_report_that_cannot_be_written_is_exit_1(tm: Runner) -> None:
    (tm.pytester.path / "blocked").write_text("")
    result = tm.run("--memray-html=blocked/report.html")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--memray-html*cannot be written*"])


@requires_subprocess
def test_an_interrupted_session_is_not_saved(tm: Runner) -> None:
    tm.write("def test_stops():\n    raise KeyboardInterrupt\n", name="test_stop")
    # In a process of its own: in this one, pytester would pass the interrupt on.
    result = tm.pytester.runpytest_subprocess(
        "--memray-backend=tracemalloc", "--memray", "--memray-save", "test_stop.py"
    )
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["memray: this run was not saved: the session was interrupted"])
    assert _saved(tm) == []
