"""``python -m pytest_memray compare``: tables, noise floor, exit statuses and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_memray.gates.cli import main

from ..helpers import requires_subprocess
from .documents import Peak, document, write

MB = 1024**2
KB = 1024

BASE: dict[str, Peak] = {
    "t::grew_a_lot": 10 * MB,
    "t::grew_a_little": 10 * MB,
    "t::grew_within": 10 * MB,
    "t::shrank": 10 * MB,
    "t::same": 5 * MB,
    "t::removed": 1 * MB,
    "t::not_measured_in_head": 2 * MB,
}
HEAD: dict[str, Peak] = {
    "t::grew_a_lot": 20 * MB,
    "t::grew_a_little": 10 * MB + 1,
    "t::grew_within": 12 * MB,
    "t::shrank": 5 * MB,
    "t::same": 5 * MB,
    "t::new": 3 * MB,
    "t::not_measured_in_head": (None, "the test skipped itself"),
}


@pytest.fixture
def pair(tmp_path: Path) -> tuple[str, str]:
    base = write(tmp_path / "base.json", document(BASE))
    head = write(tmp_path / "head.json", document(HEAD))
    return base, head


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def _rows(out: str) -> dict[str, list[str]]:
    """The table rows of a text report, by test id (not the lists of new or gone tests)."""
    return {
        line.split()[0]: line.split()
        for line in out.splitlines()
        if line.startswith("  t::") and not line.split()[0].endswith(":")
    }


def test_text_lists_each_kind_of_change_in_its_own_section(
    pair: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    base, head = pair
    status, out, err = run(capsys, "compare", base, head)
    assert (status, err) == (1, "")
    lines = out.splitlines()
    assert lines[1] == (
        f"Compared 5 of the 6 tests measured in {head} with the baseline {base} "
        "(7 tests, memray backend)."
    )
    assert lines[2] == (
        "Allowed increase 10% + 1.0MiB; noise floor 2% + 1.0MiB: 2 tests moved by no more "
        "than it (1 not at all) and are not listed."
    )
    sections = [line for line in lines if line.endswith(":") and not line.startswith(" ")]
    assert sections == [
        "Grew past the allowed increase (1):",
        "Grew within the allowed increase (1):",
        "Improved (1):",
        "New tests, not in the baseline (1):",
        f"Gone: in the baseline, not in {head} (1):",
        "Not compared, no figure on one side (1):",
    ]
    rows = _rows(out)
    assert rows["t::grew_a_lot"] == [
        "t::grew_a_lot",
        "10.0MiB",
        "20.0MiB",
        "+10.0MiB",
        "+100.0%",
        "over",
        "the",
        "allowance",
    ]
    assert rows["t::grew_within"] == ["t::grew_within", "10.0MiB", "12.0MiB", "+2.0MiB", "+20.0%"]
    assert rows["t::shrank"] == ["t::shrank", "10.0MiB", "5.0MiB", "-5.0MiB", "-50.0%"]
    assert "t::grew_a_little" not in out  # within the noise floor
    assert "  t::new: 3.0MiB" in lines
    assert "  t::removed: 1.0MiB" in lines
    assert "  t::not_measured_in_head: head: the test skipped itself" in lines
    assert lines[-1] == "1 test grew past the allowed increase of 10% + 1.0MiB."


def test_within_the_allowance_exits_0(
    pair: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "compare", *pair, "--max-increase", "100%")
    assert status == 0
    assert out.splitlines()[-1] == "No test grew past the allowed increase of 100% (5 compared)."


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_allowance_is_the_default_as_in_pytest(
    pair: tuple[str, str], capsys: pytest.CaptureFixture[str], value: str
) -> None:
    status, out, _ = run(capsys, "compare", *pair, f"--max-increase={value}")
    assert status == 1
    assert "Allowed increase 10% + 1.0MiB;" in out


@pytest.mark.parametrize("allowance", ["1 MiB", "1.0MiB", "1024 KiB", "10% + 1 MiB"])
def test_the_units_the_tool_prints_are_read_back(
    pair: tuple[str, str], capsys: pytest.CaptureFixture[str], allowance: str
) -> None:
    status, _, err = run(capsys, "compare", *pair, "--max-increase", allowance)
    assert (status, err) == (1, "")


def test_noise_floor_is_settable(pair: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "compare", *pair, "--noise-floor", "0%")
    assert "t::grew_a_little" in _rows(out)
    assert "+1.0B" in _rows(out)["t::grew_a_little"]
    _, out, _ = run(capsys, "compare", *pair, "--noise-floor", "6 MB")
    assert set(_rows(out)) == {"t::grew_a_lot"}  # past the allowance: listed whatever the floor


def test_markdown_shows_every_section_in_view(
    pair: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "compare", *pair, "--format", "markdown")
    assert status == 1
    assert out.startswith("### Peak memory per test\n")
    assert "<details>" not in out
    assert "**1 test grew past the allowed increase of 10% + 1.0MiB.**" in out
    assert "#### Grew past the allowed increase (1)" in out
    assert "| `t::grew_a_lot` | 10.0MiB | 20.0MiB | +10.0MiB **over** | +100.0% |" in out
    assert "#### Improved (1)" in out
    assert "| `t::shrank` | 10.0MiB | 5.0MiB | -5.0MiB | -50.0% |" in out
    assert "- `t::new`: 3.0MiB" in out
    assert "- `t::removed`: 1.0MiB" in out
    assert "- `t::not_measured_in_head`: head: the test skipped itself" in out


def test_markdown_keeps_pipes_from_breaking_the_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = write(tmp_path / "b.json", document({"t::x[a|b]": 1}))
    head = write(tmp_path / "h.json", document({"t::x[a|b]": 10 * MB}))
    _, out, _ = run(capsys, "compare", base, head, "--format", "markdown")
    row = next(line for line in out.splitlines() if line.startswith("| `t::x"))
    assert row.startswith("| `t::x[a\\|b]` | 1.0B | 10.0MiB |")


def test_tables_are_sorted_by_absolute_change_and_capped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base_peaks: dict[str, Peak] = {f"t::up{i:02}": 10 * MB for i in range(40)}
    head_peaks: dict[str, Peak] = {f"t::up{i:02}": 10 * MB + (i + 2) * MB for i in range(40)}
    base_peaks.update({f"t::down{i}": 100 * MB for i in range(3)})
    head_peaks.update({f"t::down{i}": (100 - 10 * (i + 1)) * MB for i in range(3)})
    base = write(tmp_path / "b.json", document(base_peaks))
    head = write(tmp_path / "h.json", document(head_peaks))
    status, out, _ = run(capsys, "compare", base, head, "--max-increase", "1000%")
    assert status == 0
    rows = list(_rows(out))
    assert rows[:3] == ["t::up39", "t::up38", "t::up37"]
    assert rows[30:] == ["t::down2", "t::down1", "t::down0"]  # largest decrease first
    assert "  ... and 10 more" in out.splitlines()
    _, out, _ = run(
        capsys, "compare", base, head, "--max-rows=2", "--format=markdown", "--max-increase=1000%"
    )
    assert "... and 38 more" in out
    assert "... and 1 more" in out


def test_markdown_fits_a_pull_request_comment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    long = "x" * 2000
    base_peaks: dict[str, Peak] = {f"t::{long}[{i}]": MB for i in range(3000)}
    head_peaks: dict[str, Peak] = {f"t::{long}[{i}]": 50 * MB for i in range(3000)}
    head_peaks.update({f"t::new{long}[{i}]": MB for i in range(3000)})
    base = write(tmp_path / "b.json", document(base_peaks))
    head = write(tmp_path / "h.json", document(head_peaks))
    for rows in ("30", "5000"):  # however many rows are asked for
        status, out, _ = run(
            capsys, "compare", base, head, "--format=markdown", f"--max-rows={rows}"
        )
        assert status == 1
        assert len(out) < 65_536
        assert "... and " in out
        assert "#### Grew past the allowed increase (3000)" in out


def test_json_format_holds_every_row(
    pair: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "compare", *pair, "--format", "json", "--max-increase", "0%")
    assert status == 1
    data = json.loads(out)
    assert data["backend"] == "memray"
    assert (data["allowance"], data["noise_floor"], data["min_compared"]) == (
        "0%",
        "2% + 1.0MiB",
        "1",
    )
    assert (data["status"], data["problems"]) == (1, [])
    assert (data["base_tests"], data["head_measured"], data["compared"]) == (7, 6, 5)
    assert data["grew_past_allowance"] == 3
    assert [c["nodeid"] for c in data["grew"]] == [
        "t::grew_a_lot",
        "t::grew_within",
        "t::grew_a_little",  # past a 0% allowance: listed within the floor
    ]
    assert data["grew"][0] == {
        "nodeid": "t::grew_a_lot",
        "base_nodeid": "t::grew_a_lot",
        "old_bytes": 10 * MB,
        "new_bytes": 20 * MB,
        "change_bytes": 10 * MB,
        "change_percent": 100.0,
        "new_allocation": False,
        "over_allowance": True,
    }
    assert [c["nodeid"] for c in data["improved"]] == ["t::shrank"]
    assert (data["within_noise"], data["unchanged"]) == (1, 1)
    assert data["new"] == [{"nodeid": "t::new", "peak_bytes": 3 * MB, "not_measured": None}]
    assert data["gone"][0]["nodeid"] == "t::removed"
    assert data["not_compared"] == [
        {"nodeid": "t::not_measured_in_head", "base": None, "head": "the test skipped itself"}
    ]
    assert data["id_prefix"] is None


def test_growth_from_zero_reads_new_allocation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = write(tmp_path / "b.json", document({"t::a": 0, "t::b": 0}))
    head = write(tmp_path / "h.json", document({"t::a": 150 * MB, "t::b": 10}))
    status, out, _ = run(capsys, "compare", base, head)
    assert status == 1
    row = next(line for line in out.splitlines() if line.startswith("  t::a"))
    assert row.split()[1:] == ["0.0B", "150.0MiB", "new", "allocation:", "150.0MiB", "over", "the",
                               "allowance"]  # fmt: skip
    assert "%" not in row
    assert "t::b" not in out  # 10 bytes from nothing: noise
    _, out, _ = run(capsys, "compare", base, head, "--format", "markdown")
    assert "| `t::a` | 0.0B | 150.0MiB | new allocation: 150.0MiB **over** |  |" in out
    _, out, _ = run(capsys, "compare", base, head, "--format", "json")
    change = json.loads(out)["grew"][0]
    assert (change["change_percent"], change["new_allocation"]) == (None, True)


def test_two_unchanged_runs_list_no_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Small moves of every test (what two tracemalloc runs of an unchanged suite give) and
    memray's 1 MiB arena steps are not rows."""
    base_peaks: dict[str, Peak] = {f"t::t{i}": 1000 + 37 * i for i in range(200)}
    head_peaks: dict[str, Peak] = {f"t::t{i}": 1000 + 37 * i + (i % 7) * 64 for i in range(200)}
    base_peaks.update({"t::arena": MB, "t::big": 300 * MB})
    head_peaks.update({"t::arena": 1, "t::big": 300 * MB + 3 * MB})
    base = write(tmp_path / "b.json", document(base_peaks))
    head = write(tmp_path / "h.json", document(head_peaks))
    status, out, _ = run(capsys, "compare", base, head)
    assert status == 0
    assert _rows(out) == {}
    assert "No peak changed by more than the noise floor." in out


def test_a_tiny_change_does_not_print_as_zero_percent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = write(tmp_path / "b.json", document({"t::up": 4 * MB, "t::down": 4 * MB}))
    head = write(tmp_path / "h.json", document({"t::up": 4 * MB + 10, "t::down": 4 * MB - 10}))
    status, out, _ = run(capsys, "compare", base, head, "--noise-floor", "0 B")
    assert status == 0
    rows = _rows(out)
    assert rows["t::up"][3:] == ["+10.0B", "+<0.1%"]
    assert rows["t::down"][3:] == ["-10.0B", "-<0.1%"]


def test_a_base_test_that_failed_is_not_compared(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = document({"t::a": 1, "t::b": 1})
    data["tests"][0]["outcome"] = "failed"
    base = write(tmp_path / "b.json", data)
    head = write(tmp_path / "h.json", document({"t::a": 10 * MB, "t::b": 1}))
    status, out, _ = run(capsys, "compare", base, head)
    assert status == 0
    assert "  t::a: base: its outcome was failed, so its peak is no reference" in out.splitlines()


# -- could not judge: exit 2 -------------------------------------------------------------------


def test_comparing_nothing_exits_2_with_the_counts_and_the_likely_cause(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = write(tmp_path / "b.json", document({"a/t.py::x": 1, "a/t.py::y": 1}))
    head = write(
        tmp_path / "h.json", document({"b/t.py::x": 1, "b/t.py::y": 1}, rootdir="/elsewhere")
    )
    status, out, err = run(capsys, "compare", base, head)
    assert status == 2
    assert out.splitlines()[-1].startswith("Could not judge: compared no test")
    assert err.count("\n") == 1
    assert err.startswith(
        f"python -m pytest_memray compare: error: could not judge: compared no test: {head} "
        f"measured 2 tests and the baseline {base} holds 2; likely cause: 2 of {head}'s test "
        "names are in the baseline under other paths: the ids are relative to another rootdir "
        f"(the baseline's rootdir was /project, {head}'s is /elsewhere)"
    )


def test_a_renamed_suite_compares_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = write(tmp_path / "b.json", document({"t.py::old_name": 1}))
    head = write(tmp_path / "h.json", document({"t.py::new_name": 1}))
    status, _, err = run(capsys, "compare", base, head)
    assert status == 2
    assert "likely cause: no test name of" in err
    assert "every test was renamed" in err


def test_ids_relative_to_another_rootdir_are_compared(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = write(tmp_path / "b.json", document({"demo/t.py::x": MB, "demo/t.py::y": MB}))
    head = write(tmp_path / "h.json", document({"t.py::x": 20 * MB, "t.py::y": MB}))
    status, out, _ = run(capsys, "compare", base, head)
    assert status == 1
    assert "Compared 2 of the 2 tests" in out
    assert (
        f"2 tests matched by folder: the baseline's ids carry the folder 'demo/' that {head}'s "
        "lack (ids relative to another rootdir)."
    ) in out
    _, out, _ = run(capsys, "compare", head, base, "--format", "json")
    assert json.loads(out)["id_prefix"] == {"prefix": "demo/", "on": "head"}


@pytest.mark.parametrize(
    ("minimum", "status"),
    [("1", 1), ("5", 1), ("6", 2), ("83%", 1), ("84%", 2), ("100%", 2)],
)
def test_min_compared(
    pair: tuple[str, str], capsys: pytest.CaptureFixture[str], minimum: str, status: int
) -> None:
    """Five of the head's six measured tests are compared (83.3%)."""
    got, _, err = run(capsys, "compare", *pair, "--min-compared", minimum)
    assert got == status
    if status == 2:
        assert "could not judge: compared 5 tests, fewer than the 6 required" in err


@pytest.mark.parametrize("value", ["0", "0%", "101%", "-1", "2.5", "many"])
def test_bad_min_compared_exits_2(
    pair: tuple[str, str], capsys: pytest.CaptureFixture[str], value: str
) -> None:
    status, out, err = run(capsys, "compare", *pair, f"--min-compared={value}")
    assert (status, out) == (2, "")
    assert f"invalid minimum {value!r}" in err


def test_fail_gone(pair: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "compare", *pair, "--fail-gone", "--max-increase", "200%")
    assert status == 2
    assert f"1 tests of the baseline {pair[0]} did not run in {pair[1]} (t::removed)" in err


def test_could_not_judge_wins_over_growth(
    pair: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "compare", *pair, "--fail-gone")
    assert status == 2
    assert "Grew past the allowed increase (1):" in out  # the table is still there


@pytest.mark.parametrize("side", ["base", "head"])
def test_a_document_lacking_a_shard_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], side: str
) -> None:
    merged = document({"t::a": 1})
    merged["shards"] = {
        "expected": 3,
        "merged": [{"source": "s1.json", "tests": 1}, {"source": "s2.json", "tests": 0}],
    }
    whole = document({"t::a": 1})
    docs = {"base": whole, "head": whole, side: merged}
    base = write(tmp_path / "b.json", docs["base"])
    head = write(tmp_path / "h.json", docs["head"])
    status, _, err = run(capsys, "compare", base, head)
    assert status == 2
    name = base if side == "base" else head
    assert (
        f"could not judge: {name} is incomplete: merged from 2 of the 3 expected shards "
        "(s1.json, s2.json)"
    ) in err


# -- bad input: exit 2, one line -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("base_kwargs", "head_kwargs", "message"),
    [
        (
            {"backend": "memray"},
            {"backend": "tracemalloc"},
            "measured with the tracemalloc backend, but {base} with memray",
        ),
        (
            {"version": 1},
            {},
            "{base}: a version 1 document, but this pytest-memray reads layout versions 2 and 3",
        ),
        ({}, {"version": 4}, "{head}: a version 4 document"),
    ],
)
def test_mixed_backends_or_versions_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    base_kwargs: dict[str, object],
    head_kwargs: dict[str, object],
    message: str,
) -> None:
    base = write(tmp_path / "b.json", document({"t::a": 1}, **base_kwargs))  # type: ignore[arg-type]
    head = write(tmp_path / "h.json", document({"t::a": 1}, **head_kwargs))  # type: ignore[arg-type]
    status, out, err = run(capsys, "compare", base, head)
    assert (status, out) == (2, "")
    assert err.startswith("python -m pytest_memray compare: error: ")
    assert message.format(base=base, head=head) in err
    assert err.count("\n") == 1


def test_version_2_documents_are_still_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = write(tmp_path / "b.json", document({"t::a": MB}, version=2))
    head = write(tmp_path / "h.json", document({"t::a": 20 * MB}))
    status, out, _ = run(capsys, "compare", base, head)
    assert status == 1
    assert "Compared 1 of the 1 tests" in out


def test_bad_file_exits_2_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path / "good.json", document({"t::a": 1}))
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    status, _, err = run(capsys, "compare", good, str(bad))
    assert status == 2
    assert f"error: {bad}: not valid JSON" in err
    status, _, err = run(capsys, "compare", str(tmp_path / "nope.json"), good)
    assert status == 2
    assert f"error: {tmp_path / 'nope.json'}: no such file" in err


def test_bad_allowance_exits_2(pair: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "compare", *pair, "--max-increase=-5%")
    assert (status, out) == (2, "")
    assert err == (
        "python -m pytest_memray compare: error: invalid allowance '-5%': expected a "
        "percentage such as '10%', a size such as '512 KB', or both as '10% + 64 KB'\n"
    )


def test_bad_noise_floor_exits_2(pair: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "compare", *pair, "--noise-floor=some")
    assert status == 2
    assert "error: invalid noise floor 'some'" in err


def test_usage_errors_exit_2_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["compare", "only-one.json"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "error: the following arguments are required: HEAD.json" in err


def test_a_crash_is_status_2_never_1(
    pair: tuple[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """1 means "a test grew": an unexpected error must not look like one."""

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("peak")

    monkeypatch.setattr("pytest_memray.gates.cli.compare_documents", broken)
    status, out, err = run(capsys, "compare", *pair)
    assert (status, out) == (2, "")
    assert err == (
        "python -m pytest_memray compare: error: internal error, please report it: "
        "KeyError: 'peak'\n"
    )


@requires_subprocess
def test_runs_as_a_module(pair: tuple[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest_memray", "compare", *pair, "--format", "markdown"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout.startswith("### Peak memory per test")
    usage = subprocess.run(
        [sys.executable, "-m", "pytest_memray"], capture_output=True, text=True, check=False
    )
    assert usage.returncode == 2
    assert "command" in usage.stderr
    assert usage.stderr.count("\n") == 1


#: Runs the command line as ``python -m pytest_memray`` would, then names what it loaded.
_LOADED = """
import json, runpy, sys
sys.argv = ["pytest_memray", *sys.argv[1:]]
try:
    runpy.run_module("pytest_memray", run_name="__main__")
except SystemExit:
    pass
heavy = ("_pytest", "pytest", "pluggy", "memray", "pytest_memray.backends")
print(json.dumps(sorted(
    name for name in sys.modules if any(name == h or name.startswith(h + ".") for h in heavy)
)))
"""


@requires_subprocess
def test_compare_loads_neither_pytest_nor_memray_nor_a_backend(tmp_path: Path) -> None:
    base = write(tmp_path / "base.json", document({"t::a": 1024}))
    head = write(tmp_path / "head.json", document({"t::a": 1024}))
    done = subprocess.run(
        [sys.executable, "-c", _LOADED, "compare", base, head],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout.splitlines()[-1]) == []
