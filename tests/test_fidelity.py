"""Drop-in fidelity with the published pytest-memray 1.11: its texts, cache format and names.

Each pattern here is matched against a whole output line, leading spaces included, because
projects grep these lines and parse the allocation lists.
"""

from __future__ import annotations

import json
import re
from importlib import metadata
from pathlib import Path

import pytest

from pytest_memray.per_test.increase_history import cache_key

from .helpers import Runner, requires_threads

SIZE = r"\d+\.\dKiB|\d+\.\dMiB|\d+\.\dB"

DEEP = """
import pytest

def inner():
    return bytearray(4 * 1024 * 1024)

def outer():
    return inner()

@pytest.mark.limit_memory("1 MB")
def test_deep():
    data = outer()
"""


def _bytes(size: str) -> float:
    """``31.0KiB`` as a number of bytes (to one decimal of its unit)."""
    units = {"B": 1, "KiB": 1024, "MiB": 1024**2}
    number, unit = re.fullmatch(r"([\d.]+)(B|KiB|MiB)", size).groups()  # type: ignore[union-attr]
    return float(number) * units[unit]


def _lines_matching(result: pytest.RunResult, pattern: str) -> list[str]:
    return [line for line in result.outlines if re.fullmatch(pattern, line)]


def test_allocation_entry_and_frames_are_indented_with_spaces(runner: Runner) -> None:
    result = runner.run_source(DEEP, "--stacks=2")
    result.assert_outcomes(failed=1)
    result.stdout.re_match_lines(
        [
            r"^-+ memray-max-memory -+$",
            r"^List of allocations:$",
            r"^    - 4\.0MiB allocated here:$",
            r"^        inner:.*test_subject\.py:4$",
            r"^        outer:.*test_subject\.py:7$",
            r"^        \.\.\.$",
        ],
        consecutive=True,
    )
    assert not any("\t" in line for line in result.outlines)


def test_every_cut_stack_ends_with_dots(runner: Runner) -> None:
    result = runner.run_source(DEEP, "-vv")
    entries = _lines_matching(result, rf"    - ({SIZE}) allocated here:")
    dots = _lines_matching(result, r"        \.\.\.")
    assert entries
    # A stack is cut where it goes on below its frames; one made in the test function itself
    # ends there (stacks end at the test's code), as Python 3.10's frame objects for outer()
    # and inner() are: their own entries.
    lines = result.outlines
    in_test = [
        line
        for index, line in enumerate(lines)
        if line in entries and lines[index + 1].strip().startswith("test_deep:")
    ]
    assert len(dots) == len(entries) - len(in_test)


LEAK_IN_THREAD = """
import threading
import pytest

KEPT = []

def work():
    KEPT.append(bytearray(4 * 1024 * 1024))

@pytest.mark.limit_leaks("1 MB")
def test_leaks_in_thread():
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
"""


@requires_threads
def test_leak_list_layout_and_no_dots_for_a_whole_stack(runner: Runner) -> None:
    # A thread's stack is short: work, run, _bootstrap_inner, _bootstrap. Leaks show at least
    # five frames, so the whole stack fits and no "..." follows it.
    result = runner.run_source(LEAK_IN_THREAD)
    result.assert_outcomes(failed=1)
    result.stdout.re_match_lines(
        [
            r"^-+ memray-leaked-memory -+$",
            r"^List of leaked allocations:$",
            r"^    - 4\.0MiB allocated here:$",
            r"^        work:.*test_subject\.py:7$",
            # <unknown> where the standard library's source cannot be read (a zipped stdlib,
            # as in Windows' embeddable CPython)
            r"^        (run|<unknown>):.*threading\.py:\d+$",
            r"^        (_bootstrap_inner|<unknown>):.*threading\.py:\d+$",
            r"^        (_bootstrap|<unknown>):.*threading\.py:\d+$",
            # What follows the list: the summary, or a note where the tracemalloc backend's
            # sampler thread pictured the thread's buffer (starting a thread uses up the
            # profile hook's events).
            r"^(=+ short test summary info =+|-+ memray note -+)$",
        ],
        consecutive=True,
    )


TWELVE = """
import pytest

@pytest.mark.limit_memory("1 KB")
def test_twelve():
""" + "".join(f"    a{i} = bytearray({(20 + i) * 1024})\n" for i in range(12))


def test_ten_largest_then_a_count_of_the_rest(runner: Runner) -> None:
    short = runner.run_source(TWELVE)
    short.assert_outcomes(failed=1)
    entries = _lines_matching(short, rf"    - ({SIZE}) allocated here:")
    assert len(entries) == 10
    sizes = [_bytes(line.split()[1]) for line in entries]
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[0] >= 31 * 1024
    more = _lines_matching(short, r"    \.\.\.and \d+ more")
    assert len(more) == 1
    hidden = int(more[0].split()[1])
    # -vv lists all of them, without the count line.
    full = runner.run("-vv")
    assert len(_lines_matching(full, rf"    - ({SIZE}) allocated here:")) == 10 + hidden
    assert not _lines_matching(full, r"    \.\.\.and \d+ more")
    assert hidden >= 2


def test_quiet_run_has_no_list_and_the_letter_f(runner: Runner) -> None:
    result = runner.run_source(DEEP, "-q")
    result.assert_outcomes(failed=1)
    assert result.ret == 1
    assert "memray-max-memory" not in result.stdout.str()
    result.stdout.re_match_lines(
        [
            r"^F +\[100%\]$",
            r"^FAILED test_subject\.py::test_deep( - Test was limited to 1\.0MiB.*)?$",
        ]
    )


def test_memory_failure_letter_m_and_words(runner: Runner) -> None:
    result = runner.run_source(DEEP)
    assert result.ret == 1
    result.stdout.re_match_lines(
        [
            r"^test_subject\.py M +\[100%\]$",
            r"^Test was limited to 1\.0MiB but allocated 4\.\dMiB$",
            r"^MEMORY PROBLEMS test_subject\.py::test_deep( - Test was limited to .*)?$",
        ]
    )
    verbose = runner.run("-v")
    verbose.stdout.re_match_lines([r"^test_subject\.py::test_deep MEMORY PROBLEMS +\[100%\]$"])


NEIGHBOUR = """
def test_neighbour():
    pass
"""


def test_two_kinds_of_marker_on_one_test(runner: Runner) -> None:
    source = """
import pytest

@pytest.mark.limit_memory("1 MB")
@pytest.mark.limit_leaks("1 MB")
def test_two():
    pass
"""
    result = runner.run_source(source + NEIGHBOUR)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.re_match_lines(
        [
            r"^Only one Memray marker can be applied to each test: test_subject\.py::test_two "
            r"has @pytest\.mark\.limit_leaks\('1 MB'\) and @pytest\.mark\.limit_memory\('1 MB'\) "
            r"on test_two$"
        ]
    )


def test_module_mark_and_test_mark_of_other_kinds(runner: Runner) -> None:
    source = """
import pytest

pytestmark = pytest.mark.limit_memory("10 MB")

@pytest.mark.limit_leaks("1 MB")
def test_two():
    pass
"""
    result = runner.run_source(source + NEIGHBOUR)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.re_match_lines(
        [
            r"^Only one Memray marker can be applied to each test: test_subject\.py::test_two "
            r"has @pytest\.mark\.limit_leaks\('1 MB'\) and @pytest\.mark\.limit_memory\('10 MB'\)$"
        ]
    )


def test_module_mark_and_test_mark_of_one_kind_closest_wins(runner: Runner) -> None:
    source = """
import pytest

pytestmark = pytest.mark.limit_memory("1 KB")

@pytest.mark.limit_memory("100 MB")
def test_roomy():
    data = bytearray(1024 * 1024)
"""
    runner.run_source(source).assert_outcomes(passed=1)


# -- --fail-on-increase -------------------------------------------------------------------------

GROWS = """
import pytest

@pytest.mark.limit_memory("100 MB")
def test_grows():
    data = bytearray({size} * 1024 * 1024)
"""
# "memray/test_subject.py::test_grows", the published key, except on Windows (see cache_key).
KEY = cache_key("test_subject.py::test_grows")


def _write(runner: Runner, size: int) -> None:
    # Consecutive sizes here differ in digits, so the file's length changes: a same-length file
    # rewritten within the same second could be served from stale cached bytecode.
    runner.write(GROWS.format(size=size))


def _cache_entry(pytester: pytest.Pytester) -> object:
    path = pytester.path / ".pytest_cache" / "v" / KEY
    return json.loads(path.read_text()) if path.exists() else None


def test_peak_recorded_without_the_flag_in_the_published_format(
    runner: Runner, pytester: pytest.Pytester
) -> None:
    _write(runner, 2)
    report = pytester.path / "peaks.json"
    assert runner.run(f"--memray-json={report}").ret == 0
    peak = json.loads(report.read_text())["tests"][0]["peak_bytes"]
    assert _cache_entry(pytester) == {"total_allocated_memory": peak}


def test_growth_since_a_run_without_the_flag_fails(
    runner: Runner, pytester: pytest.Pytester
) -> None:
    _write(runner, 2)
    assert runner.run().ret == 0
    recorded = _cache_entry(pytester)
    _write(runner, 16)
    result = runner.run("--fail-on-increase")
    result.assert_outcomes(failed=1)
    result.stdout.re_match_lines(
        [
            r"^test_subject\.py M +\[100%\]$",
            r"^Test previously used 2\.0MiB but now uses 16\.0MiB$",
            r"^-+ memray-max-memory -+$",
            r"^Test uses more memory than previous run$",
            r"^MEMORY PROBLEMS test_subject\.py::test_grows( - Test previously used 2\.0MiB.*)?$",
        ]
    )
    # A failing run leaves the record alone; a smaller peak lowers it.
    assert _cache_entry(pytester) == recorded
    _write(runner, 1)
    assert runner.run("--fail-on-increase").ret == 0
    entry = _cache_entry(pytester)
    assert isinstance(entry, dict)
    assert entry["total_allocated_memory"] < 2 * 1024 * 1024


def test_history_written_by_the_published_plugin_is_honoured(
    runner: Runner, pytester: pytest.Pytester
) -> None:
    # What pytest-memray 1.11 stores after a 1 MiB run: the peak and nothing else, through
    # pytest's cache API. A key of its own that an entry may carry is kept.
    config = pytester.parseconfigure()
    config.cache.set(KEY, {"total_allocated_memory": 1048577, "other": "kept"})
    _write(runner, 2)
    result = runner.run("--fail-on-increase")
    result.assert_outcomes(failed=1)
    result.stdout.re_match_lines([r"^Test previously used 1\.0MiB but now uses 2\.0MiB$"])
    assert _cache_entry(pytester) == {"total_allocated_memory": 1048577, "other": "kept"}
    # Without the flag the run passes and records the new peak, keeping the other key.
    assert runner.run().ret == 0
    entry = _cache_entry(pytester)
    assert isinstance(entry, dict)
    assert entry["other"] == "kept"
    assert 2 * 1024 * 1024 <= entry["total_allocated_memory"] < 3 * 1024 * 1024


def test_growth_is_judged_before_the_limit_and_over_limit_peaks_are_recorded(
    runner: Runner, pytester: pytest.Pytester
) -> None:
    config = pytester.parseconfigure()
    config.cache.set(KEY, {"total_allocated_memory": 1048577})
    runner.write(GROWS.format(size=4).replace("100 MB", "2 MB"))
    grown = runner.run("--fail-on-increase")
    grown.assert_outcomes(failed=1)
    grown.stdout.re_match_lines([r"^Test previously used 1\.0MiB but now uses 4\.0MiB$"])
    # Without the flag the limit fails the test, and its peak is recorded all the same.
    over = runner.run()
    over.assert_outcomes(failed=1)
    over.stdout.re_match_lines([r"^Test was limited to 2\.0MiB but allocated 4\.0MiB$"])
    entry = _cache_entry(pytester)
    assert isinstance(entry, dict)
    assert entry["total_allocated_memory"] >= 4 * 1024 * 1024


def test_fail_on_increase_without_the_cache_plugin_warns_once(runner: Runner) -> None:
    source = GROWS.format(size=2) + GROWS.format(size=3).replace("test_grows", "test_other")
    result = runner.run_source(source, "-p", "no:cacheprovider", "--fail-on-increase")
    result.assert_outcomes(passed=2)
    assert "AttributeError" not in result.stdout.str()
    text = (
        "--fail-on-increase: the cache plugin is disabled (-p no:cacheprovider), so no peak is "
        "recorded or compared; limit_memory tests meet their limits only"
    )
    assert result.stdout.str().count(text) == 1


# -- names ----------------------------------------------------------------------------------


def test_manager_registered_as_memray_manager(runner: Runner) -> None:
    source = """
from pytest_memray.per_test.tracking import PerTestTracking

def test_registered(request):
    manager = request.config.pluginmanager.get_plugin("memray_manager")
    assert isinstance(manager, PerTestTracking)
"""
    runner.run_source(source, "--memray").assert_outcomes(passed=1)


def test_blocking_memray_manager_turns_tracking_off(runner: Runner) -> None:
    result = runner.run_source(DEEP, "-p", "no:memray_manager", "--strict-markers")
    # Markers stay registered (no unknown-mark error); nothing is measured, as published.
    result.assert_outcomes(passed=1)
    # Asked for the report all the same, the plugin says why it lists no test.
    result = runner.run("-p", "no:memray_manager", "--memray")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*-p no:memray_manager: the per-test tracking is off, so no test is measured*"]
    )


def test_blocking_the_entry_point_named_memray(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_subject=DEEP)
    result = pytester.runpytest("-p", "no:memray")
    result.assert_outcomes(passed=1)
    assert "memray-max-memory" not in result.stdout.str()


def test_entry_point_name_is_memray() -> None:
    points = metadata.distribution("pytest-memray").entry_points
    assert [(p.group, p.name, p.value) for p in points if p.group == "pytest11"] == [
        ("pytest11", "memray", "pytest_memray.plugin")
    ]


def test_cache_key_is_the_published_one_where_it_is_a_valid_path() -> None:
    assert cache_key("tests/test_a.py::test_b[x]", windows=False) == (
        "memray/tests/test_a.py::test_b[x]"
    )
    # Windows forbids ':' in file names; '..' would climb out of the cache; parts have a limit.
    for nodeid, windows in [
        ("tests/test_a.py::test_b", True),
        ("tests/../test_a.py::test_b", False),
        ("test_a.py::test_" + "x" * 300, False),
    ]:
        key = cache_key(nodeid, windows=windows)
        assert key.startswith("memray/")
        name = key[len("memray/") :]
        assert "/" not in name
        assert ":" not in name
        assert len(name.encode()) <= 255


# The published help's first words, which `pytest --help | grep` habits look for.
PUBLISHED_HELP = {
    "--memray": "Activate memray tracking",
    "--memray-bin-path=DIR": "Path where to write the memray binary dumps",
    "--memray-bin-prefix=PREFIX": "Prefix to use for the binary dump",
    "--hide-memray-summary": "Hide the memray summary",
    "--most-allocations=N": "Show the N tests that allocate most memory",
    "--stacks=N": "Show the N stack entries",
    "--native": "Show native frames",
    "--trace-python-allocators": "Record allocations made by the Pymalloc allocator",
    "--fail-on-increase": "Fail a test with the limit_memory marker if",
    "memray (bool):": "Activate memray tracking",
    "hide_memray_summary (bool):": "Hide the memray summary",
    "most_allocations (string):": "Show the N tests that allocate most memory",
    "stacks (string):": "Show the N stack entries",
    "native (bool):": "Show native frames",
    "trace_python_allocators (bool):": "Record allocations made by the Pymalloc allocator",
    "fail-on-increase (bool):": "Fail a test with the limit_memory marker if",
    "verbosity_memray (string):": "Verbosity level for limit_memory failure reports",
}


def test_help_keeps_the_published_first_words(pytester: pytest.Pytester) -> None:
    text = " ".join(pytester.runpytest("--help").stdout.str().split())
    missing = [f"{name} {words}" for name, words in PUBLISHED_HELP.items()]
    missing = [entry for entry in missing if f" {entry}" not in text]
    assert not missing


def test_cache_key_file_is_where_pytest_puts_it(pytester: pytest.Pytester) -> None:
    # Guards _cache_entry above: pytest keeps a key's value at .pytest_cache/v/<key>.
    config = pytester.parseconfigure()
    config.cache.set(KEY, {"x": 1})
    assert _cache_entry(pytester) == {"x": 1}
    assert (Path(pytester.path) / ".pytest_cache" / "v" / KEY).is_file()


def test_capture_file_line_starts_with_the_published_words(
    runner: Runner, pytester: pytest.Pytester
) -> None:
    folder = pytester.path / "dumps"
    result = runner.run_source(
        "def test_one():\n    data = bytearray(1024)\n",
        "--memray",
        f"--memray-bin-path={folder}",
        "--memray-bin-prefix=pfx",
    )
    result.stdout.re_match_lines(
        [
            rf"^Created 1 binary dumps at {re.escape(str(folder))} with prefix pfx "
            r"\(open them with .+\)$"
        ]
    )
