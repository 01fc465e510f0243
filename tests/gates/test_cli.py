"""``python -m pytest_memray compare`` and ``merge``: outputs, exit statuses and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_memray.gates.cli import main
from pytest_memray.gates.format import SCHEMA_FILE

from ..helpers import requires_subprocess
from .documents import Peak, document, write

MB = 1024**2

BASE: dict[str, Peak] = {
    "t::grew_a_lot": 10 * MB,
    "t::grew_a_little": 10 * MB,
    "t::shrank": 10 * MB,
    "t::same": 5 * MB,
    "t::removed": 1 * MB,
    "t::not_measured_in_head": 2 * MB,
}
HEAD: dict[str, Peak] = {
    "t::grew_a_lot": 20 * MB,
    "t::grew_a_little": 10 * MB + 1,
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


def test_text_lists_changes_largest_growth_first(
    pair: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, "compare", *pair)
    assert (status, err) == (1, "")
    lines = out.splitlines()
    changed = [line.split()[0] for line in lines if line.startswith("  t::")][:3]
    assert changed == ["t::grew_a_lot", "t::grew_a_little", "t::shrank"]
    assert any(
        line.split()
        == [
            "t::grew_a_lot",
            "10.0MiB",
            "20.0MiB",
            "+10.0MiB",
            "+100.0%",
            "over",
            "the",
            "allowance",
        ]
        for line in lines
    )
    assert any(
        line.split()[:5] == ["t::shrank", "10.0MiB", "5.0MiB", "-5.0MiB", "-50.0%"]
        for line in lines
    )
    assert "  t::new  3.0MiB" in lines
    assert "  t::removed  1.0MiB" in lines
    assert "  t::not_measured_in_head: head: the test skipped itself" in lines
    assert "Unchanged peaks: 1" in lines
    assert lines[-1] == "1 test grew past the allowed increase of 10% + 1.0MiB."


def test_within_the_allowance_exits_0(
    pair: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "compare", *pair, "--max-increase", "100%")
    assert status == 0
    assert out.splitlines()[-1] == "No test grew past the allowed increase of 100%."


def test_markdown_puts_regressions_in_a_table(
    pair: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "compare", *pair, "--format", "markdown")
    assert status == 1
    assert out.startswith("### Peak memory per test\n")
    assert "**1 test grew past the allowed increase of 10% + 1.0MiB.**" in out
    visible, hidden = out.split("<details>")
    assert "| `t::grew_a_lot` | 10.0MiB | 20.0MiB | +10.0MiB **over** | +100.0% |" in visible
    assert "<summary>2 other changed peaks, within the allowance</summary>" in hidden
    assert "| `t::shrank` | 10.0MiB | 5.0MiB | -5.0MiB | -50.0% |" in hidden
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


def test_json_format(pair: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "compare", *pair, "--format", "json", "--max-increase", "0%")
    assert status == 1
    data = json.loads(out)
    assert data["backend"] == "memray"
    assert data["allowance"] == "0%"
    assert data["grew_past_allowance"] == 2
    assert [c["nodeid"] for c in data["changed"]] == [
        "t::grew_a_lot",
        "t::grew_a_little",
        "t::shrank",
    ]
    assert data["changed"][0] == {
        "nodeid": "t::grew_a_lot",
        "old_bytes": 10 * MB,
        "new_bytes": 20 * MB,
        "change_bytes": 10 * MB,
        "change_percent": 100.0,
        "over_allowance": True,
    }
    assert data["new"] == [{"nodeid": "t::new", "peak_bytes": 3 * MB, "not_measured": None}]
    assert data["removed"][0]["nodeid"] == "t::removed"
    assert data["not_measured"] == [
        {"nodeid": "t::not_measured_in_head", "base": None, "head": "the test skipped itself"}
    ]


def test_growth_from_zero_has_no_made_up_percentage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = write(tmp_path / "b.json", document({"t::a": 0}))
    head = write(tmp_path / "h.json", document({"t::a": 2 * MB}))
    status, out, _ = run(capsys, "compare", base, head)
    assert status == 1
    assert "from 0 B" in out
    _, out, _ = run(capsys, "compare", base, head, "--format", "json")
    assert json.loads(out)["changed"][0]["change_percent"] is None


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
            "{base}: a version 1 document, but this pytest-memray reads version 2",
        ),
        ({}, {"version": 3}, "{head}: a version 3 document"),
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


def test_merge_concatenates_shards(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one = write(tmp_path / "1.json", document({"t::a": 1, "t::b": 2}))
    two = write(tmp_path / "2.json", document({"t::c": (None, "skipped")}))
    out_path = tmp_path / "merged.json"
    status, out, err = run(capsys, "merge", str(out_path), one, two)
    assert (status, out, err) == (0, "", "")
    merged = json.loads(out_path.read_text(encoding="utf-8"))
    expected = document({"t::a": 1, "t::b": 2, "t::c": (None, "skipped")})
    assert merged == expected
    assert list(tmp_path.glob("*.partial")) == []


def test_merge_output_validates_against_the_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    one = write(tmp_path / "1.json", document({"t::a": 1}))
    two = write(tmp_path / "2.json", document({"t::c": (None, "skipped")}))
    assert main(["merge", str(tmp_path / "m.json"), one, two]) == 0
    jsonschema.validate(json.loads((tmp_path / "m.json").read_text(encoding="utf-8")), schema)


def test_merge_refuses_a_test_in_two_shards(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = write(tmp_path / "1.json", document({"t::a": 1, "t::b": 2}))
    two = write(tmp_path / "2.json", document({"t::b": 5, "t::c": 3}))
    out_path = tmp_path / "merged.json"
    status, _, err = run(capsys, "merge", str(out_path), one, two)
    assert status == 2
    assert f"error: {two}: test t::b is also in {one}" in err
    assert "--prefer-last" in err
    assert not out_path.exists()

    status, _, err = run(capsys, "merge", str(out_path), one, two, "--prefer-last")
    assert (status, err) == (0, "")
    merged = json.loads(out_path.read_text(encoding="utf-8"))
    assert [(t["nodeid"], t["peak_bytes"]) for t in merged["tests"]] == [
        ("t::a", 1),
        ("t::b", 5),
        ("t::c", 3),
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"backend": "tracemalloc"}, "measured with the tracemalloc backend"),
        ({"version": 1}, "a version 1 document"),
    ],
)
def test_merge_refuses_mixed_backends_and_versions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kwargs: dict[str, object], message: str
) -> None:
    one = write(tmp_path / "1.json", document({"t::a": 1}))
    two = write(tmp_path / "2.json", document({"t::b": 1}, **kwargs))  # type: ignore[arg-type]
    out_path = tmp_path / "merged.json"
    status, _, err = run(capsys, "merge", str(out_path), one, two)
    assert status == 2
    assert f"error: {two}: {message}" in err
    assert not out_path.exists()


def test_merge_notes_shards_from_different_pythons(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = write(tmp_path / "1.json", document({"t::a": 1}))
    two = write(tmp_path / "2.json", document({"t::b": 1}, python="3.13.0"))
    status, _, err = run(capsys, "merge", str(tmp_path / "m.json"), one, two)
    assert status == 0
    assert f"note: {two} was measured with backend version 1.14.0, Python 3.13.0" in err


def test_merge_reports_an_unwritable_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = write(tmp_path / "1.json", document({"t::a": 1}))
    status, _, err = run(capsys, "merge", str(tmp_path / "no" / "dir" / "m.json"), one)
    assert status == 2
    assert "cannot be written" in err


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
    assert "compare" in usage.stderr


def test_a_base_test_that_failed_is_not_compared(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = document({"t::a": 1})
    data["tests"][0]["outcome"] = "failed"
    base = write(tmp_path / "b.json", data)
    head = write(tmp_path / "h.json", document({"t::a": 10 * MB}))
    status, out, _ = run(capsys, "compare", base, head)
    assert status == 0
    assert "  t::a: base: its outcome was failed, so its peak is no reference" in out.splitlines()


def test_a_tiny_change_does_not_print_as_zero_percent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = write(tmp_path / "b.json", document({"t::up": 4 * MB, "t::down": 4 * MB}))
    head = write(tmp_path / "h.json", document({"t::up": 4 * MB + 10, "t::down": 4 * MB - 10}))
    status, out, _ = run(capsys, "compare", base, head)
    assert status == 0
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("  t::")}
    assert rows["t::up"][3:] == ["+10.0B", "+<0.1%"]
    assert rows["t::down"][3:] == ["-10.0B", "-<0.1%"]
