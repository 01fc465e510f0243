"""A capture file is kept and trusted when memray wrote it to the end, however full the disk.

memray ends a complete, uncompressed file with a trailer; a file without it was cut short (the
file-size limit, a full disk) and its test is "not measured", with the reason (the file-size
limit's case is in tests/test_trustworthy.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ...helpers import requires_memray

pytestmark = requires_memray

#: Every disk reports ten free blocks: the old rule (1 MiB free or the file is not trusted)
#: threw away complete captures there.
NEARLY_FULL = """
import os

_real = os.statvfs


def _nearly_full(path):
    fields = list(_real(path))
    fields[4] = 10  # f_bavail
    return os.statvfs_result(fields)


os.statvfs = _nearly_full
"""

FOUR = "\n".join(f"def test_{i}():\n    data = bytearray({i} * 1024 * 1024)\n" for i in range(1, 5))


def _capture(path: Path) -> None:
    import memray

    with memray.Tracker(
        destination=memray.FileDestination(path, compress_on_exit=False),
        file_format=memray.FileFormat.AGGREGATED_ALLOCATIONS,
    ):
        data = [bytearray(2000) for _ in range(100)]
        del data


def test_a_complete_capture_ends_with_the_trailer(tmp_path: Path) -> None:
    from pytest_memray.backends.memray.storage import capture_problem, is_complete

    path = tmp_path / "complete.bin"
    _capture(path)
    assert is_complete(path)
    # padding after it (memray pads its files with zeros) does not hide it
    with open(path, "ab") as out:
        out.write(b"\0" * 100_000)
    assert is_complete(path)
    assert capture_problem(path) is None


def test_a_capture_cut_short_is_not_complete(tmp_path: Path) -> None:
    from pytest_memray.backends.memray.storage import AGGREGATED_TRAILER, is_complete

    path = tmp_path / "cut.bin"
    _capture(path)
    data = path.read_bytes().rstrip(b"\0")
    cut = len(data) - 1
    while data[cut - 1] in (0, AGGREGATED_TRAILER):  # cut where the last byte left is a record's
        cut -= 1
    path.write_bytes(data[:cut])
    assert not is_complete(path)
    (tmp_path / "empty.bin").write_bytes(b"")
    assert not is_complete(tmp_path / "empty.bin")
    assert not is_complete(tmp_path / "missing.bin")
    (tmp_path / "compressed.bin").write_bytes(b"\x04\x22\x4d\x18" + data[4:])
    assert not is_complete(tmp_path / "compressed.bin")  # cannot tell: not trusted by its end


def test_complete_captures_on_a_nearly_full_disk_are_kept_and_counted(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(NEARLY_FULL)
    pytester.makepyfile(test_four=FOUR)
    folder = pytester.path / "dumps"
    result = pytester.runpytest_subprocess(
        "--memray", "--memray-backend=memray", f"--memray-bin-path={folder}", "-p", "no:randomly"
    )
    output = result.stdout.str()
    assert result.ret == 0, output
    assert "Not measured" not in output
    assert f"Created 4 binary dumps at {folder}" in output
    assert len(os.listdir(folder)) == 4
