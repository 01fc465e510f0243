"""Reading a baseline and judging peaks against it (the plugin wiring is tested elsewhere)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_memray.gates.allowance import parse_allowance
from pytest_memray.gates.baseline import BaselineError, baseline_from_options, load_baseline

from .documents import Peak, document, write

MB = 1024**2


def test_check_fails_growth_past_the_allowance_naming_both_peaks(tmp_path: Path) -> None:
    path = write(tmp_path / "base.json", document({"t::grown": 10 * MB, "t::ok": 10 * MB}))
    baseline = load_baseline(path, "memray", parse_allowance("10% + 64 KB"))
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
    baseline = load_baseline(path, "memray", parse_allowance("10% + 1 KB"))
    assert baseline.check("t::a", 1000 + 100 + 1024) is None
    assert baseline.check("t::a", 1000 + 100 + 1025) is not None


def test_nothing_to_compare_is_not_a_failure_but_is_listed(tmp_path: Path) -> None:
    peaks: dict[str, Peak] = {
        "t::kept": 100,
        "t::gone": 100,
        "t::base_nm": (None, "skipped in its call"),
    }
    path = write(tmp_path / "base.json", document(peaks))
    baseline = load_baseline(path, "memray", parse_allowance("0%"))
    assert baseline.peak_of("t::base_nm") is None
    assert baseline.not_measured_reason("t::base_nm") == "skipped in its call"
    assert baseline.check("t::base_nm", 10**9) is None
    assert baseline.check("t::new", 10**9) is None
    assert baseline.check("t::kept", None) is None
    ran = {"t::kept": None, "t::base_nm": 5, "t::new": 7}
    assert baseline.new_tests(ran) == ["t::new"]
    assert baseline.missing_tests(ran) == ["t::gone"]
    listing = baseline.listing(ran, {"t::kept": "the backend could not start"})
    assert listing.new == ["t::new"]
    assert listing.missing == ["t::gone"]
    assert listing.not_measured == [
        ("t::kept", "this run: the backend could not start"),
        ("t::base_nm", "baseline: skipped in its call"),
    ]
    assert listing.lines() == [
        "Tests not in the baseline, not gated (1):",
        "  t::new",
        "Baseline tests that did not run (1):",
        "  t::gone",
        "Tests not gated, no figure to compare (2):",
        "  t::kept: this run: the backend could not start",
        "  t::base_nm: baseline: skipped in its call",
    ]


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
    with pytest.raises(BaselineError, match=r"a version 1 document.* reads version 2") as info:
        load_baseline(path, "memray")
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "no such file"),
        ("{not json", "not valid JSON"),
        ("[]", "not a pytest-memray JSON report"),
        ('{"version": 2, "backend": {"name": "memray"}}', "has no list of tests"),
        ('{"version": 2, "tests": []}', "has no backend name"),
        (b"\xff\xfe", "cannot be read"),
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
        ({"peak_bytes": -1}, "peak_bytes must be a non-negative integer or null, got -1"),
        ({"peak_bytes": "12"}, "got '12'"),
        ({"peak_bytes": True}, "got True"),
        ({"peak_bytes": 1.5}, "got 1.5"),
        ({"peak_bytes": 5, "not_measured": "why"}, "has a peak of 5 bytes and is marked"),
        ({"not_measured": 3, "peak_bytes": None}, "not_measured must be a string or null"),
        ({"nodeid": ""}, "tests[0] has no nodeid"),
        ({"outcome": None}, "has no outcome"),
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
    assert baseline.not_measured_reason("t::a") == "the document has no peak for it"


@pytest.mark.parametrize("outcome", ["failed", "error", "skipped", "xfailed"])
def test_only_a_passing_baseline_test_is_a_reference(tmp_path: Path, outcome: str) -> None:
    data = document({"t::a": 10, "t::b": 10})
    data["tests"][0]["outcome"] = outcome
    data["tests"][1]["outcome"] = "xpassed"
    path = write(tmp_path / "base.json", data)
    baseline = load_baseline(path, "memray", parse_allowance("0%"))
    assert baseline.peak_of("t::a") is None
    assert baseline.check("t::a", 10**9) is None
    assert baseline.check("t::b", 11) is not None
    reason = f"its outcome was {outcome}, so its peak is no reference"
    assert baseline.not_measured_reason("t::a") == reason
    assert baseline.listing({"t::a": 10**9, "t::b": 11}).not_measured == [
        ("t::a", f"baseline: {reason}")
    ]


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
    with pytest.raises(BaselineError, match="this run uses tracemalloc"):
        baseline_from_options(path, None, "tracemalloc")
