"""``python -m pytest_memray merge``: shards recorded, output named or standard output, never
an input overwritten."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_memray.gates.cli import main
from pytest_memray.gates.format import SCHEMA_FILE, SCHEMA_VERSION

from .documents import document, write

posix_only = pytest.mark.skipif(
    sys.platform in ("win32", "emscripten", "wasi"), reason="needs symbolic links"
)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture
def shards(tmp_path: Path) -> list[str]:
    return [
        write(tmp_path / "1.json", document({"t::a": 1, "t::b": 2})),
        write(tmp_path / "2.json", document({"t::c": (None, "skipped")})),
    ]


def test_merge_writes_to_standard_output_by_default(
    shards: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, "merge", *shards)
    assert (status, err) == (0, "")
    merged = json.loads(out)
    expected = document({"t::a": 1, "t::b": 2, "t::c": (None, "skipped")})
    assert merged["tests"] == expected["tests"]
    assert merged["version"] == SCHEMA_VERSION
    assert merged["shards"] == {
        "expected": None,
        "merged": [
            {"source": shards[0], "tests": 2, "rootdir": "/project", "workers": []},
            {"source": shards[1], "tests": 1, "rootdir": "/project", "workers": []},
        ],
    }


def test_merge_writes_the_output_it_is_told(
    tmp_path: Path, shards: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    out_path = tmp_path / "merged.json"
    status, out, err = run(capsys, "merge", *shards, "-o", str(out_path))
    assert (status, out, err) == (0, "", "")
    assert [test["nodeid"] for test in _load(out_path)["tests"]] == ["t::a", "t::b", "t::c"]
    assert list(tmp_path.glob("*.partial")) == []


def test_the_old_form_never_overwrites_its_first_input(
    tmp_path: Path, shards: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """``merge a.json b.json`` merges both to standard output; a.json is left as it was."""
    before = Path(shards[0]).read_bytes()
    status, out, _ = run(capsys, "merge", *shards)
    assert status == 0
    assert Path(shards[0]).read_bytes() == before
    assert len(json.loads(out)["tests"]) == 3


@pytest.mark.parametrize("how", ["same", "relative", pytest.param("symlink", marks=posix_only)])
def test_an_output_that_is_an_input_is_refused(
    tmp_path: Path,
    shards: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    target = shards[1]
    before = Path(target).read_bytes()
    if how == "relative":
        monkeypatch.chdir(tmp_path / "..")
        output = os.path.join(tmp_path.name, ".", "2.json")
    elif how == "symlink":
        output = str(tmp_path / "link.json")
        os.symlink(target, output)
    else:
        output = target
    status, out, err = run(capsys, "merge", *shards, "-o", output)
    assert (status, out) == (2, "")
    assert err == (
        f"python -m pytest_memray merge: error: the output {output} is the input {target}: "
        "merge never overwrites its input; name another file with -o, or leave -o out for "
        "standard output\n"
    )
    assert Path(target).read_bytes() == before


def test_merge_output_validates_against_the_schema(
    tmp_path: Path, shards: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert main(["merge", *shards, "-o", str(tmp_path / "m.json"), "--expect", "2"]) == 0
    jsonschema.validate(_load(tmp_path / "m.json"), schema)


def test_notes_survive_merge_and_version_2_inputs_are_upgraded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with_notes = document({"t::a": 1})
    with_notes["tests"][0]["notes"] = ["locations come from the sampler thread"]
    one = write(tmp_path / "1.json", with_notes)
    two = write(tmp_path / "2.json", document({"t::b": 1}, version=2))
    status, out, _ = run(capsys, "merge", one, two)
    assert status == 0
    tests = json.loads(out)["tests"]
    assert tests[0]["notes"] == ["locations come from the sampler thread"]
    assert tests[1]["notes"] == []


def test_merge_refuses_a_test_in_two_shards(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = write(tmp_path / "1.json", document({"t::a": 1, "t::b": 2}))
    two = write(tmp_path / "2.json", document({"t::b": 5, "t::c": 3}))
    out_path = tmp_path / "merged.json"
    status, _, err = run(capsys, "merge", one, two, "-o", str(out_path))
    assert status == 2
    assert f"error: {two}: test t::b is also in {one}" in err
    assert "--prefer-last" in err
    assert not out_path.exists()

    status, _, err = run(capsys, "merge", one, two, "-o", str(out_path), "--prefer-last")
    assert (status, err) == (0, "")
    merged = _load(out_path)
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
    status, _, err = run(capsys, "merge", one, two, "-o", str(out_path))
    assert status == 2
    assert f"error: {two}: {message}" in err
    assert err.count("\n") == 1
    assert not out_path.exists()


def test_merge_notes_shards_from_different_pythons(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = write(tmp_path / "1.json", document({"t::a": 1}))
    two = write(tmp_path / "2.json", document({"t::b": 1}, python="3.13.0"))
    status, _, err = run(capsys, "merge", one, two, "-o", str(tmp_path / "m.json"))
    assert status == 0
    assert f"note: {two} was measured with backend version 1.14.0, Python 3.13.0" in err


def test_merge_reports_an_unwritable_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = write(tmp_path / "1.json", document({"t::a": 1}))
    status, _, err = run(capsys, "merge", one, "-o", str(tmp_path / "no" / "dir" / "m.json"))
    assert status == 2
    assert "cannot be written" in err


# -- shards ----------------------------------------------------------------------------------


def _shard(tmp_path: Path, number: int) -> str:
    return write(tmp_path / f"s{number}.json", document({f"t::test{number}": number * 1000}))


def test_a_merge_missing_a_shard_is_written_marked_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = [_shard(tmp_path, n) for n in (1, 2, 3)]
    out_path = tmp_path / "merged.json"
    status, _, err = run(capsys, "merge", *inputs, "--expect", "4", "-o", str(out_path))
    assert status == 2
    assert err.count("\n") == 1
    assert "error: the merged document is incomplete: merged from 3 of the 4 expected" in err
    assert _load(out_path)["shards"]["expected"] == 4
    # compare refuses it, naming the shards it has.
    base = write(tmp_path / "base.json", document({f"t::test{n}": 1000 for n in range(1, 5)}))
    status, _, err = run(capsys, "compare", base, str(out_path))
    assert status == 2
    assert f"{out_path} is incomplete: merged from 3 of the 4 expected shards" in err
    # The missing shard merged in completes it.
    fourth = _shard(tmp_path, 4)
    full = tmp_path / "full.json"
    status, _, err = run(capsys, "merge", str(out_path), fourth, "-o", str(full))
    assert (status, err) == (0, "")
    shards = _load(full)["shards"]
    assert shards["expected"] == 4
    assert [shard["source"] for shard in shards["merged"]] == [*inputs, fourth]
    status, _, _ = run(capsys, "compare", base, str(full), "--max-increase=1000%")
    assert status == 0


def test_a_merge_with_every_expected_shard_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = [_shard(tmp_path, n) for n in (1, 2)]
    status, out, err = run(capsys, "merge", *inputs, "--expect", "2")
    assert (status, err) == (0, "")
    assert json.loads(out)["shards"]["expected"] == 2


def test_a_shard_merged_twice_is_too_many(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = [_shard(tmp_path, n) for n in (1, 2, 3)]
    status, _, err = run(capsys, "merge", *inputs, "--expect", "2")
    assert status == 2
    assert "merged from 3 shards" in err
    assert "but 2 were expected" in err


def test_a_rerun_shard_is_not_counted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inputs = [_shard(tmp_path, n) for n in (1, 2)]
    rerun = write(tmp_path / "rerun.json", document({"t::test2": 5}))
    status, out, err = run(capsys, "merge", *inputs, rerun, "--expect", "2", "--prefer-last")
    assert (status, err) == (0, "")
    merged = json.loads(out)
    assert merged["shards"]["merged"][-1] == {
        "source": rerun,
        "tests": 1,
        "rootdir": "/project",
        "workers": [],
        "rerun": True,
    }
    assert [t["peak_bytes"] for t in merged["tests"]] == [1000, 5]


def test_inputs_that_disagree_on_the_shard_count_need_expect(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = tmp_path / "one.json"
    two = tmp_path / "two.json"
    assert main(["merge", _shard(tmp_path, 1), "--expect", "2", "-o", str(one)]) == 2
    assert main(["merge", _shard(tmp_path, 2), "--expect", "3", "-o", str(two)]) == 2
    capsys.readouterr()
    status, _, err = run(capsys, "merge", str(one), str(two))
    assert status == 2
    assert "the inputs disagree on how many shards there are" in err
    status, _, _ = run(capsys, "merge", str(one), str(two), "--expect", "2")
    assert status == 0


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_a_bad_expect_exits_2(
    shards: list[str], capsys: pytest.CaptureFixture[str], value: str
) -> None:
    if value == "0":
        status, out, err = run(capsys, "merge", *shards, f"--expect={value}")
    else:
        with pytest.raises(SystemExit) as info:
            main(["merge", *shards, f"--expect={value}"])
        status = int(str(info.value.code))
        out, err = capsys.readouterr()
    assert (status, out) == (2, "")
    assert err.count("\n") == 1
    assert "--expect" in err
