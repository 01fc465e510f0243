"""--native and --trace-python-allocators: what they do on memray, and the warning elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..helpers import Runner, report_blocks, requires_memray

OVER = """
import pytest

@pytest.mark.limit_memory("1 MB")
def test_over():
    data = bytearray(4 * 1024 * 1024)
"""

SMALL_OBJECTS = """
def test_small_objects():
    rows = [[i] for i in range(20_000)]
    assert rows
"""


def _memray_records_native_frames(tmp_path: Path) -> bool:
    """Whether memray itself records a native frame newer than the allocating Python frame on
    this interpreter (the allocator's own frames): it needs frame information it can unwind,
    which some builds lack (Debian's CPython 3.14 and 3.15 here). Native frames older than the
    test's (the interpreter's loop) are not the test's, and the plugin leaves them out."""
    import memray

    path = tmp_path / "native-probe.bin"
    with memray.Tracker(path, native_traces=True):
        data = bytearray(4 * 1024 * 1024)
    del data
    reader = memray.FileReader(path)
    try:
        stacks = [
            record.hybrid_stack_trace()
            for record in reader.get_high_watermark_allocation_records(merge_threads=True)
        ]
    finally:
        reader.close()
    for stack in stacks:
        for frame in stack:
            if str(frame[1]).endswith(".py"):
                break  # the newest Python frame: what comes after is older
            return True
    return False


def _frames(result: pytest.RunResult) -> list[str]:
    """The frame lines of the failure sections (indented by eight spaces; not the "..." line)."""
    lines = [line.strip() for line in result.outlines if line.startswith(" " * 8)]
    return [line for line in lines if line != "..."]


@requires_memray
def test_native_frames_in_memray_failures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_over=OVER)
    result = pytester.runpytest("--memray-backend=memray", "--native", "--stacks=40")
    result.assert_outcomes(failed=1)
    frames = _frames(result)
    if not any(not frame.split(":")[1].endswith(".py") for frame in frames):
        if not _memray_records_native_frames(pytester.path):
            pytest.skip("memray itself records no native frame on this interpreter build")
        raise AssertionError(f"memray records native frames, the failure shows none: {frames}")
    assert any("test_over:" in frame for frame in frames), frames
    plain = pytester.runpytest("--memray-backend=memray", "--stacks=8")
    plain_frames = _frames(plain)
    assert all(frame.split(":")[1].endswith(".py") for frame in plain_frames), plain_frames


def _count(result: pytest.RunResult) -> int:
    block = report_blocks(result.outlines)["test_small.py::test_small_objects"]
    line = next(text for text in block if "Total allocations" in text)
    return int(line.rsplit(" ", 1)[1])


@requires_memray
def test_trace_python_allocators_counts_each_object(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_small=SMALL_OBJECTS)
    arenas = _count(pytester.runpytest("--memray", "--memray-backend=memray"))
    objects = _count(
        pytester.runpytest("--memray", "--memray-backend=memray", "--trace-python-allocators")
    )
    assert objects >= 20_000 > arenas


@pytest.mark.parametrize(
    ("option", "warning"),
    [
        ("--native", "*--native: the tracemalloc backend cannot record native frames*"),
        ("--trace-python-allocators", "*--trace-python-allocators: the tracemalloc backend*"),
    ],
)
def test_tracemalloc_warns_once_and_carries_on(
    pytester: pytest.Pytester, option: str, warning: str
) -> None:
    pytester.makepyfile(test_over=OVER, test_small=SMALL_OBJECTS)
    result = pytester.runpytest("--memray", "--memray-backend=tracemalloc", option)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([warning])
    assert result.stdout.str().count(option + ": the tracemalloc backend") == 1
    assert "test_small.py::test_small_objects" in report_blocks(result.outlines)


def test_thread_warning_comes_once_per_session(runner: Runner) -> None:
    source = """
import pytest

@pytest.mark.limit_memory("100 MB", current_thread_only=True)
def test_one():
    pass

@pytest.mark.limit_memory("100 MB", current_thread_only=True)
def test_two():
    pass
"""
    result = runner.run_source(source)
    result.assert_outcomes(passed=2)
    warnings = result.stdout.str().count("current_thread_only=True: the tracemalloc backend")
    # memray knows which thread allocated what: nothing to warn about
    assert warnings == (1 if runner.backend == "tracemalloc" else 0)
