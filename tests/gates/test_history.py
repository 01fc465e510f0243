"""``history``: trends per test across runs, and the command that prints them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_memray.gates.allowance import DEFAULT_ALLOWANCE, parse_allowance
from pytest_memray.gates.cli import main
from pytest_memray.gates.documents import DocumentError
from pytest_memray.gates.history import build_history, load_runs, render_markdown, render_text
from pytest_memray.gates.storage import save_run

from .documents import Peak, document, make_entry, write

MB = 1024**2


def _save(folder: Path, peaks: dict[str, Peak], commit: str, **kw: object) -> None:
    save_run(folder, json.dumps(document(peaks, **kw)), commit=commit)  # type: ignore[arg-type]


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    folder = tmp_path / ".memray" / "linux-CPython-3.12-memray"
    _save(folder, {"t::steady": 5 * MB, "t::jumps": 10 * MB, "t::flaky": 1 * MB}, "aaaaaaa00001")
    _save(
        folder,
        {"t::steady": 5 * MB, "t::jumps": 10 * MB, "t::flaky": (None, "the worker crashed")},
        "bbbbbbb00002",
    )
    _save(
        folder,
        {"t::steady": 5 * MB + 10, "t::jumps": 30 * MB, "t::flaky": 1 * MB, "t::new": 2 * MB},
        "ccccccc00003",
    )
    return tmp_path / ".memray"


def test_trend_table_names_the_commit_where_a_test_jumped(storage: Path) -> None:
    history = build_history(load_runs([storage]), DEFAULT_ALLOWANCE)
    assert [run.label for run in history.runs] == ["#1 aaaaaaa", "#2 bbbbbbb", "#3 ccccccc"]
    first = history.trends[0]
    assert first.nodeid == "t::jumps"
    assert first.jump is not None
    assert history.runs[first.jump.index].commit == "ccccccc00003"
    assert first.change == (10 * MB, 30 * MB)
    by_id = {trend.nodeid: trend for trend in history.trends}
    assert by_id["t::steady"].jump is None  # 10 bytes is within the allowance
    flaky = by_id["t::flaky"]
    assert [p.peak for p in flaky.points] == [1 * MB, None, 1 * MB]
    assert flaky.points[1].reason == "the worker crashed"
    new = by_id["t::new"]
    assert [p.reason for p in new.points[:2]] == ["not in this run"] * 2
    assert new.change is None

    text = render_text(history)
    row = next(line for line in text.splitlines() if line.startswith("t::jumps"))
    assert row.split()[1:4] == ["10.0MiB", "10.0MiB", "30.0MiB"]
    assert "+20.0MiB (+200.0%)" in row
    assert row.endswith("ccccccc00003 (+20.0MiB)")
    flaky_row = next(line for line in text.splitlines() if line.startswith("t::flaky"))
    assert "not measured" in flaky_row
    assert "0.0B" not in flaky_row
    assert "t::flaky at #2 bbbbbbb: the worker crashed" in text
    assert "1 of 4 tests jumped past 10% + 1.0MiB." in text


def test_an_unmeasured_run_is_a_gap_not_a_zero(storage: Path) -> None:
    history = build_history(load_runs([storage]), parse_allowance("0%"))
    flaky = next(trend for trend in history.trends if trend.nodeid == "t::flaky")
    assert flaky.jump is None  # 1 MB -> gap -> 1 MB is no jump, though 0% allows nothing


def test_peaks_of_tests_that_did_not_pass_are_marked(tmp_path: Path) -> None:
    base = document({"t::a": 1 * MB})
    head = document({"t::a": 9 * MB})
    head["tests"] = [make_entry("t::a", 9 * MB, outcome="failed")]
    paths = [write(tmp_path / "1.json", base), write(tmp_path / "2.json", head)]
    history = build_history(load_runs(paths), DEFAULT_ALLOWANCE)
    assert "9.0MiB (failed)" in render_text(history)
    assert history.trends[0].jump is not None


def test_a_folder_of_reports_is_read_in_natural_order(tmp_path: Path) -> None:
    for number, peak in ((10, 3), (9, 2), (1, 1)):
        write(tmp_path / f"run-{number}.json", document({"t::a": peak * MB}))
    runs = load_runs([tmp_path])
    assert [run.label for run in runs] == ["run-1", "run-9", "run-10"]


def test_bad_inputs(tmp_path: Path, storage: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DocumentError, match="holds no JSON report and no saved run"):
        load_runs([tmp_path / "empty"])
    _save(storage / "win32-CPython-3.12-memray", {"t::a": 1}, "ddddddd00004")
    with pytest.raises(DocumentError, match="holds saved runs of 2 machine kinds"):
        load_runs([storage])
    write(tmp_path / "a.json", document({"t::a": 1}))
    write(tmp_path / "b.json", document({"t::a": 1}, backend="tracemalloc"))
    with pytest.raises(DocumentError, match="not comparable"):
        load_runs([tmp_path / "a.json", tmp_path / "b.json"])


def test_markdown_escapes_and_lists(storage: Path) -> None:
    history = build_history(load_runs([storage]), DEFAULT_ALLOWANCE)
    markdown = render_markdown(history)
    assert "| `t::jumps` | 10.0MiB | 10.0MiB | 30.0MiB | +20.0MiB (+200.0%) |" in markdown
    assert "- `t::flaky` at #2 bbbbbbb: the worker crashed" in markdown


def test_command(
    storage: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(storage.parent)
    assert main(["history"]) == 0  # .memray by default
    out = capsys.readouterr().out
    assert "Peak memory per test over 3 runs" in out
    assert main(["history", "--last", "2", "--format", "json", str(storage)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [run["label"] for run in data["runs"]] == ["#2 bbbbbbb", "#3 ccccccc"]
    jumps = {t["nodeid"]: t["jump"] for t in data["tests"]}
    assert jumps["t::jumps"]["commit"] == "ccccccc00003"
    assert data["tests"][0]["peaks"][0] == 10 * MB
    assert main(["history", str(storage / "nothing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m pytest_memray history: error: ")
    assert "nothing" in err
    assert main(["history", "--max-increase", "lots", str(storage)]) == 2
