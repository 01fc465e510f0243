"""Working with pytest-xdist, junit-xml, flaky, anyio, --strict-markers and -p no:memray."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from .helpers import Runner, counting_backend, report_blocks, requires_asyncio, requires_xdist

FOUR_TESTS = (
    "\n".join(
        f"def test_{i}():\n    data = bytearray({i + 1} * 1024 * 1024)\n    assert data\n"
        for i in range(4)
    )
    + """
import pytest

@pytest.mark.limit_memory("1 MB")
def test_over():
    data = bytearray(3 * 1024 * 1024)
"""
)


@requires_xdist
def test_xdist_report_lists_every_test_and_enforces_limits(runner: Runner) -> None:
    runner.write(FOUR_TESTS)
    result = runner.run("--memray", "-n", "2", "--most-allocations=0")
    result.assert_outcomes(passed=4, failed=1)
    blocks = report_blocks(result.outlines)
    # The test over its limit is listed too: a failing test is where one looks first.
    assert sorted(blocks) == [
        *(f"test_subject.py::test_{i}" for i in range(4)),
        "test_subject.py::test_over",
    ]
    for i in range(4):
        assert f"Total memory allocated: {i + 1}.0MiB" in "\n".join(
            blocks[f"test_subject.py::test_{i}"]
        )
    result.stdout.fnmatch_lines(["MEMORY PROBLEMS test_subject.py::test_over*"])
    assert result.stdout.str().count("MEMRAY REPORT") == 1


@requires_xdist
def test_xdist_capture_files_share_one_prefix(
    runner: Runner, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("captures")
    runner.write(FOUR_TESTS)
    result = runner.run("--memray", "-n", "2", f"--memray-bin-path={folder}")
    prefixes = {path.name.split("-")[0] for path in folder.iterdir()}
    assert len(prefixes) == 1
    assert len(list(folder.iterdir())) == 5
    result.stdout.fnmatch_lines([f"Created 5 binary dumps at {folder} with prefix *"])


def test_junit_xml_carries_the_failure_text(runner: Runner) -> None:
    runner.write(FOUR_TESTS)
    result = runner.run("--junitxml=out.xml")
    assert result.ret == 1
    tree = ET.parse(runner.pytester.path / "out.xml")
    failures = tree.findall(".//testcase[@name='test_over']/failure")
    assert len(failures) == 1
    assert "Test was limited to 1.0MiB but allocated 3.0MiB" in (
        failures[0].get("message", "") + (failures[0].text or "")
    )


@pytest.mark.usefixtures("fresh_flaky_report")
def test_flaky_reruns_are_tracked_once_each(runner: Runner) -> None:
    source = """
from flaky import flaky

ATTEMPTS = []

@flaky(max_runs=3, min_passes=1)
def test_flaky():
    ATTEMPTS.append(bytearray(1024 * 1024))
    assert len(ATTEMPTS) == 3
"""
    starts = counting_backend(runner.pytester, runner.backend)
    runner.write(source)
    result = runner.pytester.runpytest("--memray", "--memray-backend=counting", "-p", "no:randomly")
    assert result.ret == 0
    assert len(starts) == 3
    assert list(report_blocks(result.outlines)) == ["test_subject.py::test_flaky"]


@requires_asyncio
def test_async_tests_are_tracked(runner: Runner) -> None:
    source = """
import anyio
import pytest

@pytest.mark.anyio
async def test_async_allocates():
    await anyio.sleep(0)
    data = bytearray(10 * 1024 * 1024)
    await anyio.sleep(0)
    assert data

@pytest.fixture
def anyio_backend():
    return "asyncio"
"""
    # The window holds two turns of the event loop: some fifty small objects of asyncio and
    # anyio, and a select() that lets the process's other threads (an xdist worker's I/O
    # thread) run. Without --trace-python-allocators memray sees small objects as pymalloc
    # arenas, so when any of them needs a new arena the peak is one MiB higher (11.0MiB,
    # "call_soon -> 1.0MiB"), depending on what the process allocated before: about one heap
    # state in 300. Counted object by object, the figure is exact whatever came before.
    flags = ("--trace-python-allocators",) if runner.backend == "memray" else ()
    result = runner.run_source(source, "--memray", *flags)
    assert result.ret == 0
    block = report_blocks(result.outlines)["test_subject.py::test_async_allocates"]
    assert "Total memory allocated: 10.0MiB" in "\n".join(block)
    biggest = next(line.strip() for line in block if line.startswith("\t\t- "))
    assert biggest.startswith("- test_async_allocates:")
    assert biggest.endswith("test_subject.py:7 -> 10.0MiB")


@requires_asyncio
def test_async_limits_are_enforced(runner: Runner) -> None:
    source = """
import pytest

@pytest.fixture
def anyio_backend():
    return "asyncio"

@pytest.mark.anyio
@pytest.mark.limit_memory("5 MB")
async def test_async_over():
    data = bytearray(10 * 1024 * 1024)
"""
    result = runner.run_source(source)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*Test was limited to 5.0MiB but allocated 10.0MiB*"])


def test_strict_markers_pass_with_and_without_memray(runner: Runner) -> None:
    runner.write(FOUR_TESTS)
    for flags in ((), ("--memray",)):
        result = runner.run("--strict-markers", *flags)
        result.assert_outcomes(passed=4, failed=1)


def test_disabling_the_plugin_turns_everything_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(FOUR_TESTS)
    result = pytester.runpytest("-p", "no:memray")
    result.assert_outcomes(passed=5)
    assert "MEMRAY" not in result.stdout.str()
    result = pytester.runpytest("-p", "no:memray", "--memray")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
