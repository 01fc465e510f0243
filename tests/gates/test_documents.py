"""Bad documents: ``compare`` and ``merge`` exit 2 with one line naming the file and what is
wrong, never 1 (which means "a test grew") and never a traceback."""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_memray.gates import json_file
from pytest_memray.gates.cli import main
from pytest_memray.gates.documents import DocumentError, load_document

from .documents import document, write

Edit = Callable[[dict[str, Any]], object]


def _set(path: str, value: object) -> Edit:
    """An edit that sets the value at a dotted ``path`` (numbers index arrays)."""

    def edit(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return edit


def _drop(path: str) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        del node[last]

    return edit


LOCATION = {"function": "f", "file": "a.py", "line": 3, "bytes": 10, "count": 1}

BAD_EDITS: list[tuple[str, Edit, str]] = [
    ("version as a string", _set("version", "2"),
     "its version is the string '2', not the number 2"),
    ("version as true", _set("version", True), "version must be a number, got true"),
    ("version as a float", _set("version", 3.0), "version must be a number, got the number 3.0"),
    ("no version", _drop("version"),
     "no version; this pytest-memray reads layout versions 2 and 3"),
    ("backend as a list", _set("backend", []), "backend must be an object, got an array"),
    ("backend name as a number", _set("backend.name", 5), "backend.name must be a string"),
    ("native_allocations as a string", _set("backend.native_allocations", "yes"),
     "backend.native_allocations must be true or false"),
    ("python version as null", _set("python.version", None), "python.version must be a string"),
    ("tests as an object", _set("tests", {}), "tests must be an array, got an object"),
    ("test as a string", _set("tests.0", "t::a"), "tests[0] must be an object"),
    ("nodeid as a number", _set("tests.0.nodeid", 7), "tests[0].nodeid must be a string"),
    ("unknown outcome", _set("tests.0.outcome", "ok"), "outcome must be one of passed"),
    ("peak as NaN", _set("tests.0.peak_bytes", float("nan")), "peak_bytes must be a non-negative"),
    ("peak as a string", _set("tests.0.peak_bytes", "12"), "got the string '12'"),
    ("allocations negative", _set("tests.0.allocations", -3), "allocations must be"),
    ("limit as a float", _set("tests.0.limit_bytes", 1.5), "limit_bytes must be"),
    ("capture file as a number", _set("tests.0.capture_file", 3), "capture_file must be a string"),
    ("locations as a string", _set("tests.0.top_locations", "x"), "top_locations must be an array"),
    ("location line as a string", _set("tests.0.top_locations", [{**LOCATION, "line": "3"}]),
     "top_locations[0].line must be a non-negative integer"),
    ("location without a file", _set("tests.0.top_locations", [{"function": "f"}]),
     "top_locations[0] lacks 'file', 'line', 'bytes', 'count'"),
    ("notes as a string", _set("tests.0.notes", "a note"), "notes must be an array"),
    ("a note as a number", _set("tests.0.notes", [1]), "notes[0] must be a string"),
    ("no notes in version 3", _drop("tests.0.notes"), "lacks 'notes'"),
    ("run as a list", _set("run", [1]), "run must be an object"),
    ("rootdir as a number", _set("run.rootdir", 1), "run.rootdir must be a string or null"),
    ("shards as a string", _set("shards", "all"), "shards must be an object"),
    ("shards expected zero", _set("shards", {"expected": 0, "merged": []}),
     "shards.expected must be at least 1"),
    ("shards without any", _set("shards", {"expected": None, "merged": []}),
     "shards.merged is empty"),
]  # fmt: skip


def _bad(tmp_path: Path, edit: Edit) -> str:
    data = copy.deepcopy(document({"t::a": 1}))
    data["tests"][0]["top_locations"] = [dict(LOCATION)]
    edit(data)
    return write(tmp_path / "bad.json", data)


@pytest.mark.parametrize(("edit", "message"), [(e, m) for _, e, m in BAD_EDITS],
                         ids=[name for name, _, _ in BAD_EDITS])  # fmt: skip
@pytest.mark.parametrize("command", ["compare", "merge"])
def test_a_wrong_type_anywhere_exits_2_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, edit: Edit, message: str
) -> None:
    bad = _bad(tmp_path, edit)
    good = write(tmp_path / "good.json", document({"t::a": 1}))
    args = [good, bad] if command == "compare" else [bad]
    status = main([command, *args])
    out, err = capsys.readouterr()
    assert (status, out) == (2, "")
    assert err.startswith(f"python -m pytest_memray {command}: error: {bad}: ")
    assert message in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 1_000_000 + "]" * 1_000_000, "nested too deeply"),
        ('{"version": 3, "tests": [' + "[" * 200_000 + "]" * 200_000 + "]}", "nested too deeply"),
        ('{"version": 3, "tests": [], "x": ' + "9" * 10_000 + "}", "not valid JSON"),
        ("", "not valid JSON"),
        ("null", "the top level is null, not an object"),
        ('"a string"', "the top level is the string 'a string', not an object"),
        ("[]", "the top level is an array, not an object"),
    ],
    ids=["nested", "nested-inside", "long-int", "empty", "null", "string", "array"],
)
@pytest.mark.parametrize("command", ["compare", "merge"])
def test_garbage_exits_2_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, text: str, message: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(text, encoding="utf-8")
    good = write(tmp_path / "good.json", document({"t::a": 1}))
    args = [str(bad), good] if command == "compare" else [str(bad)]
    status = main([command, *args])
    out, err = capsys.readouterr()
    assert (status, out) == (2, "")
    assert f"error: {bad}: " in err
    assert message in err
    assert err.count("\n") == 1


def test_a_huge_file_is_refused_before_it_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(json_file, "MAX_DOCUMENT_BYTES", 1024)
    big = tmp_path / "big.json"
    big.write_text(" " * 2000 + "{}", encoding="utf-8")
    status = main(["merge", str(big)])
    _, err = capsys.readouterr()
    assert status == 2
    assert f"error: {big}: is larger than 1.0KiB, far more than a pytest-memray report holds" in err


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_an_endless_device_is_read_no_further_than_the_limit(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(json_file, "MAX_DOCUMENT_BYTES", 1024 * 1024)
    status = main(["compare", "/dev/zero", "/dev/zero"])
    _, err = capsys.readouterr()
    assert status == 2
    assert "error: /dev/zero: is larger than 1.0MiB" in err


def test_invalid_utf8_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(b'{"version": 3, "x": "\xff"}')
    with pytest.raises(DocumentError, match=r"not UTF-8 text \(invalid start byte at byte 21\)"):
        load_document(bad)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    path = Path(write(tmp_path / "secret.json", document({"t::a": 1})))
    path.chmod(0)
    # Asked of the file itself: os.geteuid is missing on WebAssembly (Pyodide).
    try:
        path.read_bytes()
    except PermissionError:
        pass
    else:
        pytest.skip("this user reads every file (root)")
    with pytest.raises(DocumentError, match="cannot be read: Permission denied"):
        load_document(path)


def test_a_document_of_every_kind_loads(tmp_path: Path) -> None:
    data = document({"t::a": 1, "t::b": (None, "the disk is full")})
    data["tests"][0]["top_locations"] = [dict(LOCATION)]
    data["tests"][0]["notes"] = ["a note"]
    data["run"]["workers"] = ["gw0", "gw1"]
    data["shards"] = {
        "expected": 2,
        "merged": [
            {"source": "a.json", "tests": 1, "rootdir": None, "workers": ["gw0"]},
            {"source": "b.json", "tests": 1, "rerun": False},
        ],
    }
    loaded = load_document(write(tmp_path / "ok.json", data))
    assert loaded.version == 3
    assert loaded.rootdir == "/project"
    assert loaded.workers == ("gw0", "gw1")
    assert loaded.incomplete is None
    assert loaded.entries["t::b"].not_measured == "the disk is full"
    assert loaded.measured == 1


def test_keys_the_layout_does_not_define_are_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = document({"t::a": 1})
    data["tests"][0]["flamegraph"] = "flame/a.html"
    data["extra"] = {"by": "another tool"}
    path = write(tmp_path / "extra.json", data)
    assert load_document(path).entries["t::a"].raw["flamegraph"] == "flame/a.html"
    assert main(["merge", path]) == 0
    assert '"flamegraph": "flame/a.html"' in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("", 0),
        ("3", 0),
        ("[]", 1),
        ('{"a": [1, {"b": []}], "c": {}}', 4),
        ('["[[[", "{{", "]"]', 1),
        ('["\\"[[", "\\\\", ["\\\\\\"]"]]', 2),
        ('{"\\u005b": ["é [", ["ü"]]}', 3),
        ('"[[[', 0),
        ("]]]", 0),
    ],
)
def test_nesting_depth_counts_brackets_outside_strings(text: str, depth: int) -> None:
    assert json_file.nesting_depth(text) == depth


def _nested(depth: int) -> str:
    """A version 3 document whose key the layout does not define nests ``depth`` levels."""
    inner = "[" * (depth - 1) + '"[{"' + "]" * (depth - 1)
    return json.dumps(document({"t::a": 1})).replace("{", '{"x": ' + inner + ", ", 1)


def test_a_document_nested_too_deeply_is_refused_before_json_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # json.loads recurses in C once per level: on WebAssembly a few thousand levels crash the
    # interpreter itself, so such a document must never reach it.
    limit = json_file.MAX_DOCUMENT_DEPTH
    at_limit = tmp_path / "at-limit.json"
    at_limit.write_text(_nested(limit), encoding="utf-8")
    assert load_document(at_limit).measured == 1
    deeper = tmp_path / "deeper.json"
    deeper.write_text(_nested(limit + 1), encoding="utf-8")

    def no_json(text: str) -> object:
        raise AssertionError("json.loads was called")

    monkeypatch.setattr(json, "loads", no_json)
    message = f"nested too deeply: more than {limit} levels of arrays and objects"
    with pytest.raises(DocumentError, match=message) as info:
        load_document(deeper)
    assert info.value.path == str(deeper)
