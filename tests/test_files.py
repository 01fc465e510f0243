"""The one writer of every output file: atomic for regular files, into FIFOs and devices,
through symbolic links, with the usual mode."""

from __future__ import annotations

import os
import stat
import sys
import threading
from pathlib import Path

import pytest

from pytest_memray.files import write_file, write_text

posix_only = pytest.mark.skipif(
    sys.platform in ("win32", "emscripten", "wasi"), reason="needs POSIX modes, FIFOs and links"
)


def _leftovers(folder: Path) -> list[str]:
    return [path.name for path in folder.iterdir() if path.name.endswith(".partial")]


def test_a_new_file_holds_the_data_and_nothing_is_left_beside_it(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    write_text(target, "{}\n")
    assert target.read_text(encoding="utf-8") == "{}\n"
    assert _leftovers(tmp_path) == []


@posix_only
def test_a_new_file_gets_the_mode_the_umask_gives(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_file(tmp_path / "a", b"x")
        os.umask(0o077)
        write_file(tmp_path / "b", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "b").stat().st_mode) == 0o600


@posix_only
def test_a_replaced_file_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "kept"
    target.write_bytes(b"old")
    target.chmod(0o640)
    write_file(target, b"new")
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


@posix_only
def test_a_symbolic_link_stays_a_link_and_its_target_is_written(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_bytes(b"old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_file(link, b"new")
    assert link.is_symlink()
    assert real.read_bytes() == b"new"


@posix_only
def test_a_fifo_is_written_into_not_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    write_file(fifo, b"through the pipe")
    reader.join(timeout=10)
    assert received == [b"through the pipe"]
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError):
        write_file(tmp_path, b"x")


def test_a_missing_folder_is_an_error_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_file(tmp_path / "missing" / "out.json", b"x")
    assert list(tmp_path.iterdir()) == []


# -- names the options refuse --------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["../x", "a/b", "..", "..x", "a\\b", "/abs", "..\\up"])
def test_a_bin_prefix_that_is_a_path_is_a_usage_error(
    pytester: pytest.Pytester, prefix: str
) -> None:
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest(
        "--memray", f"--memray-bin-path={pytester.path / 'dumps'}", f"--memray-bin-prefix={prefix}"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: --memray-bin-prefix '{prefix}': a prefix is the start of a file name, "
            "not a path*"
        ]
    )
    assert not (pytester.path / "dumps").exists() or not any((pytester.path / "dumps").iterdir())
    assert not list(pytester.path.glob(".._*"))


def test_a_plain_bin_prefix_names_the_files(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_ok(): pass")
    dumps = pytester.path / "dumps"
    result = pytester.runpytest(
        "--memray", "--memray-backend=tracemalloc", f"--memray-bin-path={dumps}",
        "--memray-bin-prefix=run-1.a",
    )  # fmt: skip
    assert result.ret == 0
    assert [path.name.startswith("run-1.a-") for path in dumps.iterdir()] == [True]


def test_stream_names(tmp_path: Path) -> None:
    from pytest_memray.files import stream_fd

    expected = {"/dev/stdout": 1, "/dev/stderr": 2, "/dev/fd/5": 5, "/proc/self/fd/7": 7}
    for name, fd in expected.items():
        assert stream_fd(name) == (None if os.name == "nt" else fd)
    assert stream_fd(tmp_path / "stdout") is None
    assert stream_fd("/dev/null") is None
