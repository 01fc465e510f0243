"""Reading a baseline and judging peaks against it (the plugin wiring is tested elsewhere)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from pytest_memray.gates.allowance import parse_allowance
from pytest_memray.gates.baseline import (
    BaselineError,
    baseline_from_options,
    load_baseline,
    rules_from_options,
)
from pytest_memray.gates.compare import Rules
from pytest_memray.gates.documents import RunEntry

from .documents import Peak, document, write

MB = 1024**2


def _rules(allowance: str) -> Rules:
    return Rules(allowance=parse_allowance(allowance))


def _run(peaks: Mapping[str, Peak]) -> list[RunEntry]:
    entries = []
    for nodeid, peak in peaks.items():
        if isinstance(peak, tuple):
            entries.append(RunEntry(nodeid, "passed", None, peak[1]))
        else:
            entries.append(RunEntry(nodeid, "passed", peak, None))
    return entries


def test_check_fails_growth_past_the_allowance_naming_both_peaks(tmp_path: Path) -> None:
    path = write(tmp_path / "base.json", document({"t::grown": 10 * MB, "t::ok": 10 * MB}))
    baseline = load_baseline(path, "memray", _rules("10% + 64 KB"))
    assert baseline.check("t::ok", 11 * MB) is None
    failure = baseline.check("t::grown", 12 * MB)
    assert failure is not None
    assert failure.summary == (
        "Test peak memory grew from 10.0MiB in the baseline to 12.0MiB (+20.0%), "
        "more than the allowed increase of 10% + 64.0KiB"
    )
    assert failure.section == "memray-max-memory"
    assert (failure.baseline_bytes, failure.peak_bytes) == (10 * MB, 12 * MB)
    assert f"Baseline: {path} (memray backend)" in failure.details
    assert "Allowed increase: 10% + 64.0KiB (--memray-max-increase)" in failure.details


def test_check_at_the_ceiling_passes_and_one_byte_more_fails(tmp_path: Path) -> None:
    path = write(tmp_path / "base.json", document({"t::a": 1000}))
    baseline = load_baseline(path, "memray", _rules("10% + 1 KB"))
    assert baseline.check("t::a", 1000 + 100 + 1024) is None
    assert baseline.check("t::a", 1000 + 100 + 1025) is not None


def test_nothing_to_compare_is_not_a_failure_but_is_listed(tmp_path: Path) -> None:
    peaks: dict[str, Peak] = {
        "t::kept": 100,
        "t::gone": 100,
        "t::base_nm": (None, "skipped in its call"),
        "t::same": 100,
    }
    path = write(tmp_path / "base.json", document(peaks))
    baseline = load_baseline(path, "memray", _rules("0%"))
    assert baseline.peak_of("t::base_nm") is None
    assert baseline.document.entries["t::base_nm"].no_reference == "skipped in its call"
    assert baseline.check("t::base_nm", 10**9) is None
    assert baseline.check("t::new", 10**9) is None
    assert baseline.check("t::kept", None) is None
    ran: dict[str, Peak] = {
        "t::kept": (None, "the backend could not start"),
        "t::base_nm": 5,
        "t::new": 7,
        "t::same": 100,
    }
    result = baseline.comparison(_run(ran), "/project")
    assert [entry.nodeid for entry in result.new] == ["t::new"]
    assert [entry.nodeid for entry in result.gone] == ["t::gone"]
    assert [(u.nodeid, u.reason()) for u in result.not_compared] == [
        ("t::kept", "head: the backend could not start"),
        ("t::base_nm", "base: skipped in its call"),
    ]
    assert (result.compared, result.head_measured, result.base_tests) == (1, 3, 4)
    assert result.status == 0


def test_the_end_of_session_comparison_judges_like_compare(tmp_path: Path) -> None:
    path = write(tmp_path / "base.json", document({"t::a": 10 * MB, "t::b": 10 * MB}))
    baseline = load_baseline(path, "memray")
    result = baseline.comparison(_run({"t::a": 20 * MB, "t::b": 10 * MB + 10}), "/project")
    assert [change.nodeid for change in result.regressions] == ["t::a"]
    assert result.within_noise == 1
    assert result.status == 1


def test_a_gate_that_compared_nothing_cannot_judge(tmp_path: Path) -> None:
    path = write(tmp_path / "base.json", document({"t::a": 10, "t::b": 10}))
    baseline = load_baseline(path, "memray")
    result = baseline.comparison(_run({"t::x": 10, "t::y": 10}), "/elsewhere")
    assert result.compared == 0
    assert result.status == 2
    (problem,) = result.problems
    assert problem.startswith(
        f"compared no test: this run measured 2 tests and the baseline {path} holds 2; "
        "likely cause: no test name of this run is in the baseline"
    )
    assert "(the baseline's rootdir was /project, this run's is /elsewhere)" in problem


def test_ids_relative_to_another_rootdir_are_paired(tmp_path: Path) -> None:
    base = {"demo/test_a.py::test_x": 10 * MB, "demo/test_a.py::test_y": 10 * MB}
    path = write(tmp_path / "base.json", document(base))
    baseline = load_baseline(path, "memray")
    baseline.match(["test_a.py::test_x", "test_a.py::test_y", "test_a.py::test_new"])
    assert baseline.base_id("test_a.py::test_x") == "demo/test_a.py::test_x"
    assert baseline.base_id("test_a.py::test_new") is None
    failure = baseline.check("test_a.py::test_x", 20 * MB)
    assert failure is not None
    assert "Baseline test id: demo/test_a.py::test_x" in failure.details
    result = baseline.comparison(
        _run({"test_a.py::test_x": 20 * MB, "test_a.py::test_y": 10 * MB}), "/project/demo"
    )
    assert result.compared == 2
    assert result.matching.shifted == 2
    assert result.gone == []


def test_pairs_from_the_processes_that_ran_the_tests_win(tmp_path: Path) -> None:
    path = write(tmp_path / "base.json", document({"a/t.py::x": 10, "b/t.py::x": 20}))
    baseline = load_baseline(path, "memray")
    result = baseline.comparison(_run({"t.py::x": 20}), None, pairs={"t.py::x": "b/t.py::x"})
    assert result.within_noise == 1
    assert result.unchanged == 1
    assert [entry.nodeid for entry in result.gone] == ["a/t.py::x"]


def test_an_incomplete_merged_baseline_cannot_judge(tmp_path: Path) -> None:
    data = document({"t::a": 10})
    data["shards"] = {"expected": 2, "merged": [{"source": "1.json", "tests": 1}]}
    baseline = load_baseline(write(tmp_path / "base.json", data), "memray")
    result = baseline.comparison(_run({"t::a": 10}), None)
    assert result.status == 2
    assert "incomplete: merged from 1 of the 2 expected shards (1.json)" in result.problems[0]


def test_gone_tests_fail_the_gate_when_asked(tmp_path: Path) -> None:
    path = write(tmp_path / "base.json", document({"t::a": 10, "t::b": 10}))
    rules = rules_from_options(None, fail_gone=True)
    result = load_baseline(path, "memray", rules).comparison(_run({"t::a": 10}), None)
    assert result.status == 2
    assert result.problems == [
        f"1 tests of the baseline {path} did not run in this run (t::b), and gone tests fail "
        "the gate"
    ]
    relaxed = load_baseline(path, "memray").comparison(_run({"t::a": 10}), None)
    assert relaxed.status == 0


def test_other_backend_is_refused_naming_both(tmp_path: Path) -> None:
    path = write(tmp_path / "base.json", document({"t::a": 1}, backend="tracemalloc"))
    with pytest.raises(BaselineError) as info:
        load_baseline(path, "memray")
    message = str(info.value)
    assert message.startswith(f"--memray-baseline {path}: measured with the tracemalloc backend")
    assert "this run uses memray" in message
    assert isinstance(info.value, ValueError)


def test_other_version_is_refused_naming_both(tmp_path: Path) -> None:
    path = write(tmp_path / "base.json", document({"t::a": 1}, version=1))
    with pytest.raises(BaselineError, match=r"a version 1 document.* versions 2 and 3") as info:
        load_baseline(path, "memray")
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "no such file"),
        ("{not json", "not valid JSON"),
        ("[]", "not a pytest-memray JSON report"),
        ('{"version": 2, "backend": {"name": "memray"}}', "lacks 'python', 'tests'"),
        ('{"version": 2, "tests": []}', "lacks 'backend', 'python'"),
        (b"\xff\xfe", "not UTF-8 text"),
        ('{"version": "2", "tests": []}', "its version is the string '2', not the number 2"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
)
def test_bad_files_are_refused_naming_the_path(
    tmp_path: Path, content: str | bytes | None, reason: str
) -> None:
    path = tmp_path / "base.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(BaselineError) as info:
        load_baseline(path, "memray")
    assert str(info.value).startswith(f"--memray-baseline {path}: ")
    assert reason in str(info.value)


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BaselineError, match="is a directory"):
        load_baseline(tmp_path, "memray")


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (
            {"peak_bytes": -1},
            "peak_bytes must be a non-negative integer or null, got the number -1",
        ),
        ({"peak_bytes": "12"}, "got the string '12'"),
        ({"peak_bytes": True}, "got true"),
        ({"peak_bytes": 1.5}, "got the number 1.5"),
        ({"peak_bytes": 5, "not_measured": "why"}, "has a peak of 5 bytes and is marked"),
        ({"not_measured": 3, "peak_bytes": None}, "not_measured must be a string or null"),
        ({"nodeid": ""}, "tests[0].nodeid is empty"),
        ({"outcome": None}, "outcome must be a string, got null"),
    ],
)
def test_malformed_entries_are_refused(
    tmp_path: Path, entry: dict[str, object], reason: str
) -> None:
    data = document({"t::a": 1})
    data["tests"][0].update(entry)
    path = write(tmp_path / "base.json", data)
    with pytest.raises(BaselineError, match="--memray-baseline") as info:
        load_baseline(path, "memray")
    assert reason in str(info.value)


def test_a_test_listed_twice_is_refused(tmp_path: Path) -> None:
    data = document({"t::a": 1})
    data["tests"].append(data["tests"][0])
    path = write(tmp_path / "base.json", data)
    with pytest.raises(BaselineError, match="lists test t::a twice"):
        load_baseline(path, "memray")


def test_a_null_peak_without_a_reason_is_not_measured_not_zero(tmp_path: Path) -> None:
    path = write(tmp_path / "base.json", document({"t::a": None}))
    baseline = load_baseline(path, "memray")
    assert baseline.peak_of("t::a") is None
    assert baseline.document.entries["t::a"].no_reference == "the document has no peak for it"


@pytest.mark.parametrize("outcome", ["failed", "error", "skipped", "xfailed"])
def test_only_a_passing_baseline_test_is_a_reference(tmp_path: Path, outcome: str) -> None:
    data = document({"t::a": 10, "t::b": 10})
    data["tests"][0]["outcome"] = outcome
    data["tests"][1]["outcome"] = "xpassed"
    path = write(tmp_path / "base.json", data)
    baseline = load_baseline(path, "memray", _rules("0%"))
    assert baseline.peak_of("t::a") is None
    assert baseline.check("t::a", 10**9) is None
    assert baseline.check("t::b", 11) is not None
    reason = f"its outcome was {outcome}, so its peak is no reference"
    assert baseline.document.entries["t::a"].no_reference == reason
    result = baseline.comparison(_run({"t::a": 10**9, "t::b": 11}), None)
    assert [(u.nodeid, u.reason()) for u in result.not_compared] == [("t::a", f"base: {reason}")]


def test_baseline_from_options(tmp_path: Path) -> None:
    path = write(tmp_path / "base.json", document({"t::a": 10}))
    assert baseline_from_options(None, None, "memray") is None
    gate = baseline_from_options(path, None, "memray")
    assert gate is not None
    assert str(gate.allowance) == "10% + 1.0MiB"
    gate = baseline_from_options(path, "5%", "memray")
    assert gate is not None
    assert str(gate.allowance) == "5%"
    with pytest.raises(ValueError, match=r"^--memray-max-increase / memray_max_increase: invalid"):
        baseline_from_options(None, "5", "memray")
    with pytest.raises(ValueError, match=r"^--memray-noise-floor / memray_noise_floor: invalid"):
        baseline_from_options(None, None, "memray", noise_floor="lots")
    with pytest.raises(ValueError, match=r"^--memray-min-compared / memray_min_compared: invalid"):
        baseline_from_options(None, None, "memray", min_compared="0")
    gate = baseline_from_options(path, "", "memray", noise_floor=" ", min_compared="")
    assert gate is not None
    assert (str(gate.allowance), str(gate.rules.noise_floor)) == ("10% + 1.0MiB", "2% + 1.0MiB")
    with pytest.raises(BaselineError, match="this run uses tracemalloc"):
        baseline_from_options(path, None, "tracemalloc")
