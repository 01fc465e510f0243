"""Capture file names are valid on Windows and POSIX, distinct per test, and stay put."""

from __future__ import annotations

import re

import pytest

from pytest_memray.per_test.capture_files import MAX_NAME_BYTES, capture_file_name

WINDOWS_FORBIDDEN = re.compile(r'[\\/:*?"<>|\x00-\x1f]')
WINDOWS_RESERVED = re.compile(r"^(CON|PRN|AUX|NUL|COM\d|LPT\d)$", re.IGNORECASE)

NODE_IDS = [
    "tests/test_a.py::test_b",
    "tests\\win\\test_a.py::test_b",
    'tests/test_a.py::test_b[a/b:c*d?e"f<g>h|i]',
    "tests/test_a.py::test_b[\x00\x1f]",
    "tests/test_a.py::TestClass::test_method[ünïcødé-名前]",
    "../../etc/passwd",
    "..",
    "CON",
    "nul.txt",
    "tests/test_a.py::test_b[" + "x" * 600 + "]",
    "tests/test_a.py::test_b[" + "名" * 300 + "]",
    "trailing dot.",
    "trailing space ",
]


@pytest.mark.parametrize("nodeid", NODE_IDS)
@pytest.mark.parametrize("prefix", ["", "run1", "a" * 300])
def test_names_follow_windows_rules(nodeid: str, prefix: str) -> None:
    name = capture_file_name(prefix, nodeid, ".bin")
    assert not WINDOWS_FORBIDDEN.search(name)
    assert len(name.encode("utf-8")) <= MAX_NAME_BYTES
    assert name.endswith(".bin")
    assert name not in (".", "..")
    assert not WINDOWS_RESERVED.match(name.split(".")[0])
    assert not name.rstrip(".bin").endswith((" ", "."))


def test_names_are_distinct_per_test() -> None:
    names = {capture_file_name("p", nodeid, ".bin") for nodeid in NODE_IDS}
    assert len(names) == len(NODE_IDS)
    # ids that differ only in characters that get replaced still differ
    assert capture_file_name("p", "t.py::a[x:y]", ".bin") != capture_file_name(
        "p", "t.py::a[x/y]", ".bin"
    )


def test_names_start_with_the_prefix_and_read_like_the_test() -> None:
    name = capture_file_name("abc", "tests/test_a.py::test_b", ".tracemalloc")
    assert name.startswith("abc-tests_test_a.py__test_b-")
    assert name.endswith(".tracemalloc")


@pytest.mark.parametrize("nodeid", NODE_IDS)
def test_names_never_escape_the_folder(tmp_path: pytest.TempPathFactory, nodeid: str) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    target = (folder / capture_file_name("p", nodeid, ".bin")).resolve()
    assert target.parent == folder.resolve()
