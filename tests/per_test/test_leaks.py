"""``limit_leaks`` and ``limit_leaked_objects`` on both backends."""

from __future__ import annotations

import pytest

from ..helpers import Runner, assert_current_thread_only, requires_threads, requires_xdist

WITH_AND_WITHOUT = pytest.mark.parametrize("flags", [(), ("--memray",)], ids=["plain", "memray"])


@WITH_AND_WITHOUT
def test_leak_over_the_limit_fails_naming_the_line(runner: Runner, flags: tuple[str, ...]) -> None:
    source = """
import pytest

KEPT = []

@pytest.mark.limit_leaks("1 MB")
def test_leaks():
    KEPT.append(bytearray(4 * 1024 * 1024))
"""
    result = runner.run_source(source, *flags)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*Test was allowed to leak 1.0MiB per location but at least one location leaked more*",
            "*memray-leaked-memory*",
            "List of leaked allocations:",
            "*- 4.0MiB allocated here:",
            "*test_leaks:*test_subject.py:7",
        ]
    )
    result.stdout.fnmatch_lines(["MEMORY PROBLEMS test_subject.py::test_leaks*"])


def test_leak_stacks_end_at_the_test(runner: Runner) -> None:
    """No frame of the plugin (its wrapper around the test) or of pytest and pluggy below it
    is shown: the stack ends with the test function, however many frames are asked for."""
    source = """
import pytest

KEPT = []

def keep():
    KEPT.append(bytearray(4 * 1024 * 1024))

@pytest.mark.limit_leaks("1 MB")
def test_leaks():
    keep()
"""
    result = runner.run_source(source, "--stacks=30")
    result.assert_outcomes(failed=1)
    section = result.stdout.str().split("List of leaked allocations:")[1].split("=====")[0]
    frames = [line.strip() for line in section.splitlines() if ".py:" in line]
    assert frames == ["keep:" + frames[0].split(":", 1)[1], frames[1]]
    assert frames[1].startswith("test_leaks:")
    for unwanted in ("pytest_memray", "_pytest", "pluggy"):
        assert unwanted not in section


@WITH_AND_WITHOUT
def test_garbage_cycles_are_not_leaks(runner: Runner, flags: tuple[str, ...]) -> None:
    """Memory held only by reference cycles the test dropped is garbage, collected before
    the leaks are counted (a collection may simply not have run yet)."""
    source = """
import gc

import pytest

class Node:
    pass

@pytest.fixture
def no_automatic_collection():
    # Until the test's teardown: no collection may run by itself before the leaks are counted.
    gc.disable()
    yield
    gc.enable()

@pytest.mark.limit_leaks("1 MB")
def test_drops_cycles(no_automatic_collection):
    for _ in range(4):
        first, second = Node(), Node()
        first.other, second.other = second, first
        first.payload = bytearray(2 * 1024 * 1024)
    del first, second
"""
    runner.run_source(source, *flags).assert_outcomes(passed=1)


@WITH_AND_WITHOUT
def test_freed_memory_passes(runner: Runner, flags: tuple[str, ...]) -> None:
    source = """
import pytest

@pytest.mark.limit_leaks("1 MB")
def test_churns():
    for _ in range(10):
        block = bytearray(4 * 1024 * 1024)
        del block
"""
    result = runner.run_source(source, *flags)
    result.assert_outcomes(passed=1)


def test_leak_stacks_show_at_least_five_frames(runner: Runner) -> None:
    source = """
import pytest

KEPT = []

def f1():
    KEPT.append(bytearray(2 * 1024 * 1024))

def f2():
    f1()

def f3():
    f2()

def f4():
    f3()

def f5():
    f4()

@pytest.mark.limit_leaks("1 MB")
def test_deep():
    f5()
"""
    result = runner.run_source(source)
    result.stdout.fnmatch_lines(
        [
            "*- 2.0MiB allocated here:",
            "*f1:*test_subject.py:6",
            "*f2:*test_subject.py:9",
            "*f3:*test_subject.py:12",
            "*f4:*test_subject.py:15",
            "*f5:*test_subject.py:18",
        ]
    )


def test_filter_fn_ignoring_a_cache_passes(runner: Runner) -> None:
    source = """
import pytest
from pytest_memray import Stack

CACHE = {}

def cached_load(key):
    if key not in CACHE:
        CACHE[key] = bytearray(4 * 1024 * 1024)
    return CACHE[key]

def not_the_cache(stack: Stack) -> bool:
    return not any(frame.function == "cached_load" for frame in stack.frames)

@pytest.mark.limit_leaks("1 MB", filter_fn=not_the_cache)
def test_cache_is_fine():
    assert cached_load("a")

@pytest.mark.limit_leaks("1 MB")
def test_cache_unfiltered():
    assert cached_load("b")
"""
    result = runner.run_source(source)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["MEMORY PROBLEMS *test_cache_unfiltered*"])


def test_filter_fn_sees_stack_frames(runner: Runner) -> None:
    source = """
import pytest
from pytest_memray import Stack, StackFrame

SEEN = []
KEPT = []

def record(stack):
    SEEN.append(stack)
    return True

@pytest.mark.limit_leaks("1 MB", filter_fn=record)
def test_leaks():
    KEPT.append(bytearray(2 * 1024 * 1024))

def test_check_seen():
    assert SEEN, "filter_fn was not called"
    stack = SEEN[0]
    assert isinstance(stack, Stack)
    assert all(isinstance(frame, StackFrame) for frame in stack.frames)
    assert stack.frames[0].function == "test_leaks"
    assert stack.frames[0].filename.endswith("test_subject.py")
    assert stack.frames[0].lineno == 13
"""
    result = runner.run_source(source, "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)


def test_raising_filter_fn_fails_only_that_test(runner: Runner) -> None:
    source = """
import pytest

KEPT = []

def broken(stack):
    raise KeyError("no such frame")

@pytest.mark.limit_leaks("1 MB", filter_fn=broken)
def test_leaks():
    KEPT.append(bytearray(2 * 1024 * 1024))

def test_neighbour():
    pass
"""
    result = runner.run_source(source)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*The filter_fn of limit_leaks raised KeyError: 'no such frame'*", "*in broken*"]
    )
    assert "INTERNALERROR" not in result.stdout.str()


@requires_threads
def test_leak_from_a_helper_thread(runner: Runner) -> None:
    source = """
import threading
import pytest

KEPT = []

def work():
    KEPT.append(bytearray(4 * 1024 * 1024))

@pytest.mark.limit_leaks("1 MB")
def test_thread_leaks():
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
"""
    result = runner.run_source(source)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*- 4.0MiB allocated here:", "*work:*test_subject.py:7"])


@requires_threads
def test_leak_from_a_helper_thread_with_current_thread_only(runner: Runner) -> None:
    source = """
import threading
import pytest

KEPT = []

def work():
    KEPT.append(bytearray(4 * 1024 * 1024))

@pytest.mark.limit_leaks("1 MB", current_thread_only=True)
def test_thread_leaks():
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
"""
    assert_current_thread_only(runner.run_source(source), runner.backend)


LEAKED_OBJECTS = """
import pytest

class Widget:
    def __init__(self, n):
        self.n = n

    def __repr__(self):
        return f"Widget({self.n})"

KEPT = []

@pytest.mark.limit_leaked_objects()
def test_keeps_one():
    KEPT.append(Widget(1))

@pytest.mark.limit_leaked_objects(filter_fn=lambda obj: not isinstance(obj, Widget))
def test_keeps_one_filtered():
    KEPT.append(Widget(2))

@pytest.mark.limit_leaked_objects()
def test_drops_ten():
    widgets = [Widget(i) for i in range(10)]
    assert len(widgets) == 10
"""


@WITH_AND_WITHOUT
def test_leaked_objects(runner: Runner, flags: tuple[str, ...]) -> None:
    result = runner.run_source(LEAKED_OBJECTS, *flags)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_keeps_one _*",
            "Test leaked 1 objects",
            "*memray-tracked-objects*",
            "List of leaked objects:",
            "    Object types that leaked (total: 1 objects):",
            "        - 1 test_subject.Widget instance(s)",
            "*Widget(1)*",
        ]
    )
    result.stdout.fnmatch_lines(["MEMORY PROBLEMS test_subject.py::test_keeps_one*"])


def test_leaked_objects_with_raising_repr_and_many_types(runner: Runner) -> None:
    source = """
import pytest

class Grumpy:
    def __repr__(self):
        raise RuntimeError("no repr for you")

KEPT = []

@pytest.mark.limit_leaked_objects()
def test_mixed():
    KEPT.append(Grumpy())
    KEPT.extend([[i] for i in range(3)])
"""
    result = runner.run_source(source)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*Test leaked 4 objects*",
            "        - 3 list instance(s)",
            "        - 1 test_subject.Grumpy instance(s)",
            "*<Grumpy instance at 0x*>",
        ]
    )


def test_raising_objects_filter_fails_only_that_test(runner: Runner) -> None:
    source = """
import pytest

KEPT = []

def broken(obj):
    raise ValueError("bad filter")

@pytest.mark.limit_leaked_objects(filter_fn=broken)
def test_leaks():
    KEPT.append([1])

def test_neighbour():
    pass
"""
    result = runner.run_source(source)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*The filter_fn of limit_leaked_objects raised ValueError*"])


def test_leaked_objects_are_not_kept_alive(runner: Runner) -> None:
    source = """
import gc
import weakref
import pytest

class Widget:
    pass

KEPT = []
REFS = []

@pytest.mark.limit_leaked_objects()
def test_leaks():
    widget = Widget()
    KEPT.append(widget)
    REFS.append(weakref.ref(widget))

def test_released():
    KEPT.clear()
    gc.collect()
    assert REFS[0]() is None
"""
    result = runner.run_source(source, "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)


XDIST_OBJECTS = """
import pytest

class Widget:
    pass

KEPT = []

def only_widgets(obj):
    # An xdist worker's I/O thread can create objects of its own while a test runs.
    return isinstance(obj, Widget)

@pytest.mark.limit_leaked_objects(filter_fn=only_widgets)
def test_keeps_one():
    KEPT.append(Widget())

@pytest.mark.limit_leaked_objects(filter_fn=only_widgets)
def test_drops_ten():
    widgets = [Widget() for _ in range(10)]
    assert len(widgets) == 10
"""


@requires_xdist
def test_markers_under_xdist(runner: Runner) -> None:
    runner.write(XDIST_OBJECTS)
    runner.write(
        """
import pytest

KEPT = []

@pytest.mark.limit_leaks("1 MB")
def test_leaks():
    KEPT.append(bytearray(4 * 1024 * 1024))

@pytest.mark.limit_leaks("1 MB")
def test_churns():
    block = bytearray(4 * 1024 * 1024)
    del block
""",
        name="test_leaky",
    )
    result = runner.run("-n", "2", "--memray")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(["MEMORY PROBLEMS test_leaky.py::test_leaks*"])
    result.stdout.fnmatch_lines(["MEMORY PROBLEMS test_subject.py::test_keeps_one*"])
