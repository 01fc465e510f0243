"""What is particular to the tracemalloc backend: tracing state, the watchers (profile hook,
sampler thread) and what they cost, counted rather than timed."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import tracemalloc
import types
from collections.abc import Callable, Generator
from typing import NamedTuple

import pytest

import pytest_memray
from pytest_memray.backends.interface import ActiveTracking, Measurement, TrackingRequest
from pytest_memray.backends.tracemalloc.backend import TracemallocBackend
from pytest_memray.backends.tracemalloc.pictures import TrackingStats
from pytest_memray.backends.tracemalloc.sampler import Sampler
from pytest_memray.backends.tracemalloc.watch import HOOK_EVENTS, HOOK_EVENTS_SUSPENDING

from ...helpers import report_blocks, requires_sampler, requires_subprocess

SPIKE = """
def spike():
    scratch = bytearray(10 * 1024 * 1024)
    return len(scratch)

def test_spike():
    assert spike()
"""


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("--memray", "--memray-backend=tracemalloc", *args)


def test_tracing_is_off_again_after_the_session(pytester: pytest.Pytester) -> None:
    assert not tracemalloc.is_tracing()
    pytester.makepyfile(test_spike=SPIKE)
    assert _run(pytester).ret == 0
    assert not tracemalloc.is_tracing()


FRAMES_RECORDED = """
import tracemalloc
import pytest

FRAMES = {}

def test_unmarked():
    FRAMES["unmarked"] = tracemalloc.get_traceback_limit()

@pytest.mark.limit_memory("100 MB")
def test_limited():
    FRAMES["limited"] = tracemalloc.get_traceback_limit()

def test_zz_report():
    print("FRAMES", sorted(FRAMES.items()))
"""


def test_only_a_failure_that_shows_stacks_pays_for_more_frames(
    pytester: pytest.Pytester,
) -> None:
    """Each frame tracemalloc records costs time on every allocation (40% on hypothesis
    tests for a second one): a test without a limit is shown with its newest frame only."""
    pytester.makepyfile(test_frames=FRAMES_RECORDED)
    result = _run(pytester, "--stacks=3", "-s", "-p", "no:randomly")
    assert result.ret == 0
    # a limit's failure shows 3 frames, and one more tells it the stack was cut
    result.stdout.fnmatch_lines(["*FRAMES [[]('limited', 4), ('unmarked', 1)[]]*"])


USER_TRACES = """
import tracemalloc

tracemalloc.start(2)

def pytest_unconfigure():
    print("USER TRACING", tracemalloc.is_tracing(), tracemalloc.get_traceback_limit())
"""


@requires_subprocess
def test_users_own_tracing_is_left_running(pytester: pytest.Pytester) -> None:
    # In a process of its own, where the user's tracing begins before anything else.
    pytester.makeconftest(USER_TRACES)
    pytester.makepyfile(test_spike=SPIKE)
    result = pytester.runpytest_subprocess("--memray", "--memray-backend=tracemalloc", "-s")
    result.stdout.fnmatch_lines(["*USER TRACING True 2*"])
    assert result.ret == 0
    block = "\n".join(report_blocks(result.outlines)["test_spike.py::test_spike"])
    assert "Total memory allocated: 10.0MiB" in block
    assert "spike:" in block


def test_a_test_that_starts_and_stops_tracemalloc(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_uses_tracemalloc="""
import tracemalloc
import pytest

@pytest.mark.limit_memory("100 MB")
def test_uses_tracemalloc():
    tracemalloc.start()
    data = bytearray(1024 * 1024)
    assert tracemalloc.take_snapshot().statistics("lineno")
    tracemalloc.stop()

def test_after():
    data = bytearray(2 * 1024 * 1024)
"""
    )
    result = _run(pytester, "-rA")
    # The test's start() did nothing (tracing was on); its stop() ended the backend's tracing.
    result.assert_outcomes(passed=1, failed=1)
    assert "INTERNALERROR" not in result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*Test was limited to 100.0MiB, but the memory of this test could not be measured: "
            "the test stopped tracemalloc (it called tracemalloc.stop())"
        ]
    )
    blocks = report_blocks(result.outlines)
    assert "Total memory allocated: 2.0MiB" in "\n".join(
        blocks["test_uses_tracemalloc.py::test_after"]
    )
    assert not tracemalloc.is_tracing()


def test_peak_between_two_events_is_charged_to_the_running_frame(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_gap="""
def helper():
    blob = b"a" * (10 * 1024 * 1024)
    del blob
    return 1

def test_gap():
    assert helper() == 1
"""
    )
    result = _run(pytester)
    block = "\n".join(report_blocks(result.outlines)["test_gap.py::test_gap"])
    assert "Total memory allocated: 10.0MiB" in block
    assert "helper:" in block


def test_a_python_profiler_keeps_working_beside_the_hook(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
import sys
import pytest

EVENTS = []

@pytest.fixture(autouse=True)
def other_profiler():
    sys.setprofile(lambda frame, event, arg: EVENTS.append(event))
    yield
    sys.setprofile(None)
"""
    )
    pytester.makepyfile(
        test_holds="""
from conftest import EVENTS

def helper():
    return bytearray(10 * 1024 * 1024)

def test_holds():
    data = helper()
    assert "call" in EVENTS
"""
    )
    result = _run(pytester)
    assert result.ret == 0
    block = "\n".join(report_blocks(result.outlines)["test_holds.py::test_holds"])
    assert "Total memory allocated: 10.0MiB" in block
    assert "helper:" in block
    assert sys.getprofile() is None


def test_coarser_when_a_c_profiler_holds_the_hook(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
import sys
import pytest

class NotCallable:
    pass

@pytest.fixture(autouse=True)
def other_profiler(monkeypatch):
    # What sys.getprofile() returns for a profiler installed from C.
    monkeypatch.setattr(sys, "getprofile", lambda: NotCallable())
    yield
"""
    )
    pytester.makepyfile(
        test_over="""
import pytest

@pytest.mark.limit_memory("5 MB")
def test_over():
    data = bytearray(10 * 1024 * 1024)
"""
    )
    result = _run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*Test was limited to 5.0MiB but allocated 10.0MiB*"])
    result.stdout.fnmatch_lines(["*another profiler holds the profile hook*"])


def test_works_where_threads_cannot_start(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    pytester.makepyfile(test_spike=SPIKE)
    result = _run(pytester)
    assert result.ret == 0
    block = "\n".join(report_blocks(result.outlines)["test_spike.py::test_spike"])
    assert "Total memory allocated: 10.0MiB" in block
    assert "spike:" in block


def test_backend_measures_an_allocation_directly() -> None:
    backend = TracemallocBackend()
    tracking = backend.start(TrackingRequest(stack_depth=3, want_leaks=True))
    tracking.open()
    kept = bytearray(3 * 1024 * 1024)
    tracking.close()
    tracking.stop()
    measurement = _outcome(backend, tracking)
    assert measurement is not None
    assert measurement.peak_bytes >= 3 * 1024 * 1024
    assert (
        measurement.peak_sites[0].stack[0].function
        == "test_backend_measures_an_allocation_directly"
    )
    assert measurement.leaked_sites is not None
    assert measurement.leaked_sites[0].size >= 3 * 1024 * 1024
    assert measurement.test_thread_id is None
    assert not measurement.notes  # pictured by the hook, at the growth itself
    # Stopped after the call, but kept on for the session on a free-threaded build.
    assert tracemalloc.is_tracing() is backend.tracing.keep
    backend.close()
    assert not tracemalloc.is_tracing()
    del kept


def _grow_and_free() -> int:
    chunks = [bytearray(100 * 1024) for _ in range(100)]  # 100 snapshots' worth of growth
    total = sum(len(chunk) for chunk in chunks)
    del chunks
    return total


def test_own_summaries_are_left_out_of_the_peak() -> None:
    """Many snapshots while growing must not add the backend's own memory to the peak."""
    tracked = _track(lambda tracking: _grow_and_free())
    total = tracked.returned
    assert isinstance(total, int)
    assert total <= tracked.measurement.peak_bytes < total * 1.05


# -- what the watchers cost, counted rather than timed -------------------------------------


def _calls(n: int) -> int:
    total = 0
    for i in range(n):
        total += _one(i)
    return total


def _one(i: int) -> int:
    return i & 1


def _outcome(backend: TracemallocBackend, tracking: ActiveTracking) -> Measurement:
    """The measurement ``backend`` handed over for ``tracking`` (call after ``stop``)."""
    outcome = dict(backend.take_results())[tracking.handle]
    assert isinstance(outcome, Measurement)
    return outcome


class _Tracked(NamedTuple):
    tracking: ActiveTracking
    measurement: Measurement
    #: What the tracked call returned.
    returned: object


def _track(
    call: Callable[[ActiveTracking], object], backend: TracemallocBackend | None = None
) -> _Tracked:
    """Track ``call`` (given the tracking) as the plugin tracks a test function: the backend
    starts, the tracking opens, ``call`` runs, the tracking closes and stops."""
    backend = backend or TracemallocBackend()
    tracking = backend.start(TrackingRequest(stack_depth=1))
    tracking.open()
    returned = call(tracking)
    tracking.close()
    tracking.stop()
    return _Tracked(tracking, _outcome(backend, tracking), returned)


def _tracking_stats(tracking: ActiveTracking) -> TrackingStats:
    stats = getattr(tracking, "stats", None)
    assert isinstance(stats, TrackingStats)
    return stats


@requires_sampler
def test_the_hook_watches_a_bounded_number_of_events() -> None:
    """Where a sampler thread exists, the profile hook leaves a call-heavy test early."""
    tracked = _track(lambda tracking: _calls(20_000))  # 40 000 calls and returns
    assert tracked.returned == 10_000
    # A few more: the plugin's own events before the test function are not counted down.
    assert 0 < _tracking_stats(tracked.tracking).hook_events <= HOOK_EVENTS + 10


@requires_sampler
def test_the_calls_of_c_functions_do_not_use_the_hooks_events_up() -> None:
    """Their returns read the same growth: a test making a few C calls before it allocates
    is still pictured by the hook, at the moment of growth, not by the sampler thread."""
    c_calls = HOOK_EVENTS * 3 // 4  # their calls and returns together: past the events

    def test(tracking: ActiveTracking) -> int:
        for _ in range(c_calls):
            len("x")
        kept = bytearray(4 * 1024 * 1024)
        return len(kept)

    tracked = _track(test)
    stats = _tracking_stats(tracked.tracking)
    assert c_calls < stats.hook_events < 2 * c_calls
    assert stats.pictures == 1
    assert not any("sampler thread" in note for note in tracked.measurement.notes)
    assert tracked.measurement.peak_sites[0].size >= 4 * 1024 * 1024


def _small() -> bytearray:
    return bytearray(1000)


def test_what_was_traced_before_the_test_function_is_not_among_its_locations() -> None:
    backend = TracemallocBackend()
    tracking = backend.start(TrackingRequest(stack_depth=1))
    tracking.open()
    before = bytearray(1024 * 1024)  # traced, but before the test function is entered
    kept = _small()  # the test function
    tracking.close()
    tracking.stop()
    measurement = _outcome(backend, tracking)
    assert len(before) > len(kept)
    assert 1000 <= measurement.peak_bytes < 4096
    assert measurement.peak_sites
    assert all(site.size < 4096 for site in measurement.peak_sites)


@types.coroutine
def _pause() -> Generator[None, None, None]:
    yield


async def _pausing(turns: int) -> int:
    for _ in range(turns):
        await _pause()
    return turns


@requires_sampler
def test_a_coroutine_test_is_watched_for_more_events() -> None:
    """The event loop's calls between two lines of an async test use events up, so the hook
    watches such a test longer (here the test drives the coroutine itself, as a loop would)."""
    backend = TracemallocBackend()
    tracking = backend.start(TrackingRequest(stack_depth=1))
    tracking.open()
    coroutine = _pausing(HOOK_EVENTS)
    try:
        while True:
            coroutine.send(None)
    except StopIteration:
        pass
    tracking.close()
    tracking.stop()
    events = _tracking_stats(tracking).hook_events
    assert HOOK_EVENTS + 10 < events <= HOOK_EVENTS_SUSPENDING + 10


def test_without_threads_the_hook_watches_the_whole_call(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    tracked = _track(lambda tracking: _calls(2_000))
    assert tracked.returned == 1_000
    assert _tracking_stats(tracked.tracking).hook_events >= 4_000


def _wait_for_samples(tracking: ActiveTracking, count: int) -> None:
    """Let the sampler thread read the total ``count`` more times (sleeping frees the GIL)."""
    stats = _tracking_stats(tracking)
    target = stats.samples + count
    for _ in range(100_000):
        if stats.samples >= target:
            return
        time.sleep(0.001)
    raise AssertionError("the sampler thread did not read the total")


def _held_then_freed(tracking: ActiveTracking) -> None:
    data = bytearray(10 * 1024 * 1024)
    _wait_for_samples(tracking, 3)
    del data


def _hold_after_many_calls(tracking: ActiveTracking) -> None:
    _calls(1_000)  # past the hook's events
    _held_then_freed(tracking)


@requires_sampler
def test_the_sampler_takes_the_picture_after_the_hook_left() -> None:
    tracking, measurement, _ = _track(_hold_after_many_calls)
    assert _tracking_stats(tracking).pictures == 1
    assert measurement.peak_bytes >= 10 * 1024 * 1024 - 1024  # see the test below
    top = measurement.peak_sites[0]
    assert top.size >= 10 * 1024 * 1024
    assert top.stack[0].function == "_held_then_freed"
    assert any("locations come from the sampler thread" in note for note in measurement.notes)


def _spike() -> None:
    blob = bytearray(10 * 1024 * 1024)
    del blob


def _spike_after_many_calls(tracking: ActiveTracking) -> None:
    _calls(1_000)  # past the hook's events
    _spike()  # no sleep: the sampler cannot read the total before it is freed
    _wait_for_samples(tracking, 3)


@requires_sampler
def test_a_peak_between_two_samples_is_charged_and_noted() -> None:
    _, measurement, _ = _track(_spike_after_many_calls)
    # within a few hundred bytes: objects alive at the baseline may be freed in the call
    assert measurement.peak_bytes >= 10 * 1024 * 1024 - 1024
    top = measurement.peak_sites[0]
    # The gap is a difference of totals too: the peak less what is alive at the reading, so
    # what the waiting loop makes after the spike is freed (its first run, the interpreter's
    # own data for its code) comes off it. 2.5 KB once, on 3.12 in a loaded CI run; the peak
    # figure itself is exact (above).
    assert top.size >= 10 * 1024 * 1024 - 4096, top
    # Almost always freed before the sampler reads the total, and then charged with a note;
    # on a loaded machine the thread may be switched to while the spike is alive, and then
    # it is pictured where it was made.
    noted = any("between two readings of the sampler thread" in note for note in measurement.notes)
    assert noted or top.stack[0].function == "_spike", (top, measurement.notes)


# -- pictures stay within their share of the test's time ----------------------------------


class _Clock:
    """A clock that moves ``step`` seconds each time it is read."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def _grow(chunks: list[bytearray]) -> None:
    for _ in range(40):  # four events per round: well inside the hook's share
        chunks.append(bytearray(100 * 1024))


def _pictures_while_growing(clock: _Clock) -> int:
    chunks: list[bytearray] = []
    backend = TracemallocBackend(clock=clock)
    tracking, measurement, _ = _track(lambda tracking: _grow(chunks), backend)
    assert measurement.peak_bytes >= 40 * 100 * 1024
    chunks.clear()
    return _tracking_stats(tracking).pictures


def test_costly_pictures_are_spaced_out() -> None:
    free = _pictures_while_growing(_Clock(0.0))  # pictures take no time
    costly = _pictures_while_growing(_Clock(1.0))  # each picture takes a second
    assert free >= 10
    # After a picture of t seconds, none for 39t: the clock is read once per growth event.
    assert 1 <= costly <= free // 4


def _growth_after_a_costly_picture(tracking: ActiveTracking) -> int:
    first = _block(200 * 1024)  # pictured: a picture that "took" a second, so none for a while
    second = _block(4 * 1024 * 1024)  # more than doubled: pictured all the same
    size = len(first) + len(second)
    del first, second  # freed before the end: only a picture at the growth shows where
    return size


def _block(size: int) -> bytearray:
    return bytearray(size)


def test_a_growth_past_twice_the_last_picture_is_pictured_however_costly() -> None:
    """Pictures are put off after a costly one, but not once the memory grew past the last
    one by as much as it had: the last picture would show less than half the peak, and
    what is freed before the end would be charged to the test function as a whole."""
    tracking, measurement, _ = _track(
        _growth_after_a_costly_picture, TracemallocBackend(_Clock(1.0))
    )
    assert measurement.peak_bytes >= 4 * 1024 * 1024 + 200 * 1024
    top = measurement.peak_sites[0]
    assert top.size >= 4 * 1024 * 1024
    assert top.stack[0].function == "_block", top
    assert not measurement.notes, measurement.notes
    assert _tracking_stats(tracking).pictures == 2


# -- only the test's own bytes -------------------------------------------------------------


def _plugin_work_after_the_call() -> bytearray:
    return bytearray(1024 * 1024)


def test_close_reads_the_peak_before_the_plugins_own_work() -> None:
    backend = TracemallocBackend()
    tracking = backend.start(TrackingRequest(stack_depth=1))
    tracking.open()
    assert _calls(10) == 5
    tracking.close()
    after = _plugin_work_after_the_call()
    tracking.close()
    tracking.stop()
    measurement = _outcome(backend, tracking)
    assert measurement is not None
    assert measurement.peak_bytes < 1024
    assert all(site.size < 1024 for site in measurement.peak_sites)
    del after


EMPTY_AND_SMALL = """
import pytest

def test_empty():
    pass

@pytest.mark.limit_memory("1 KB")
def test_900():
    data = bytearray(900)

@pytest.mark.limit_leaked_objects()
def test_census():
    pass
"""


def test_an_empty_test_reports_nothing_and_900_bytes_pass_a_kilobyte(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_small=EMPTY_AND_SMALL)
    result = _run(pytester, "--memray-json=out.json")
    result.assert_outcomes(passed=3)
    tests = {
        test["nodeid"]: test
        for test in json.loads(pytester.path.joinpath("out.json").read_text())["tests"]
    }
    peaks = {nodeid.split("::")[1]: test["peak_bytes"] for nodeid, test in tests.items()}
    assert peaks["test_empty"] == 0
    assert peaks["test_900"] == sys.getsizeof(bytearray(900))
    # The census's own work after the call is left out. Not always 0: a garbage collection
    # that the test's allocations trigger can run other code's callbacks in the call.
    assert peaks["test_census"] < 256
    assert "pytest_memray" not in json.dumps(tests)


# -- a user who traces already --------------------------------------------------------------

_KEPT: list[bytearray] = []


def _leak_and_free(before: list[bytearray]) -> None:
    _KEPT.append(bytearray(2 * 1024 * 1024))
    before.clear()


def test_leaks_when_the_user_traces_already() -> None:
    tracemalloc.start(5)
    try:
        before = [bytearray(1024 * 1024)]  # alive before the call, freed during it
        kept_before = bytearray(3 * 1024 * 1024)  # alive before and after: not the call's
        backend = TracemallocBackend()
        tracking = backend.start(TrackingRequest(stack_depth=5, want_leaks=True))
        tracking.open()
        _leak_and_free(before)
        tracking.close()
        tracking.stop()
        measurement = _outcome(backend, tracking)
        assert tracemalloc.is_tracing()
    finally:
        tracemalloc.stop()
        _KEPT.clear()
    del kept_before
    assert measurement is not None
    leaked = measurement.leaked_sites
    assert leaked is not None
    assert leaked[0].stack[0].function == "_leak_and_free"
    assert 2 * 1024 * 1024 <= leaked[0].size < 2 * 1024 * 1024 + 1024
    # Only growth: what was freed is no leak, what existed before is not the call's.
    assert sum(site.size for site in leaked) < 2 * 1024 * 1024 + 16 * 1024
    assert all(site.size > 0 for site in leaked)
    assert not any(
        frame.filename.startswith(os.path.dirname(pytest_memray.__file__))
        for site in leaked
        for frame in site.stack[:1]
    )


# -- stable figures: the watchers add nothing, however often they read ----------------------


def _hold_while_sleeping(tracking: ActiveTracking) -> int:
    kept = [bytearray(1000) for _ in range(10)]
    _calls(100)  # past the hook's events: the sampler watches
    more = bytearray(50_000)  # grown past the last picture: the sampler pictures it
    for _ in range(30):
        time.sleep(0.001)  # frees the interpreter for the sampler, which reads each time
    return len(kept) + len(more)


#: What the interpreter's free lists of small objects may move a peak by (see
#: docs/backends.rst: the figures of a test pictured while it ran are good to a few dozen
#: bytes).
SMALL_OBJECTS = 128


def _peak_while_sleeping(backend: TracemallocBackend) -> tuple[int, TrackingStats]:
    """The peak of :func:`_hold_while_sleeping` and how it was watched. The tracking is let go
    at once, as the plugin lets it go after a test: kept, the trackings of earlier calls
    change what the interpreter allocates for itself in later ones (by some 100 bytes, from
    the fifth call on, on CPython 3.14), whether the sampler reads or not."""
    tracked = _track(_hold_while_sleeping, backend)
    return tracked.measurement.peak_bytes, _tracking_stats(tracked.tracking)


@requires_sampler
def test_the_sampler_adds_nothing_to_the_peak(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 19 item 9: the same test gives the same peak however often, and when, the
    sampler thread reads the counters and takes pictures: the same work measured with the
    sampler reading during it, and with the sampler kept from reading, gives the same peak.

    What runs for the first time allocates once (caches), in each way: so the first calls
    are not compared. One backend, as in a session: on a free-threaded build each thread
    has free lists of its own, which a new sampler thread fills in its first calls.

    The same to within :data:`SMALL_OBJECTS`: the sampler's picture, taken after the test
    reached its peak, makes and frees small objects, whose memory comes from one of the
    interpreter's free lists or from a new block (which tracemalloc then counts, freed or
    not), depending on what the process did before. On CPython 3.15, after a test that
    allocated 1 MiB and an in-process pytest session, that was 64 bytes, every time."""
    backend = TracemallocBackend()
    read = [_peak_while_sleeping(backend) for _ in range(7)][4:]
    assert all(stats.samples > 0 for _, stats in read)
    assert any(stats.pictures > 1 for _, stats in read)
    monkeypatch.setattr(Sampler, "watch", lambda self, tracking: None)
    monkeypatch.setattr(Sampler, "unwatch", lambda self: None)
    # Warmed up as the real ones were above: on Python 3.13 the first tracked run through the
    # new unwatch (called before the peak is read) peaks a few bytes higher, once (8 on Linux,
    # 16 on Windows).
    not_read = [_peak_while_sleeping(backend) for _ in range(4)][1:]
    assert all(stats.samples == 0 for _, stats in not_read)
    peaks = [peak for peak, _ in read + not_read]
    assert max(peaks) - min(peaks) <= SMALL_OBJECTS, read + not_read


def test_a_first_call_measurement_whose_opening_fails_leaves_tracing_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before a process's first test the backend measures a call of its own; should opening
    that tracking fail once tracing began, the tracking is still closed: the test after it
    would otherwise find tracing on and take it for its own, and tracemalloc's functions
    still replaced by the backend's. (A free-threaded build keeps tracing on between calls
    by design: there only the replacements tell.)"""
    from pytest_memray.backends.tracemalloc import backend as backend_module
    from pytest_memray.backends.tracemalloc.own_use import real_is_tracing, real_reset_peak
    from pytest_memray.backends.tracemalloc.tracking import TracemallocTracking

    real_open = TracemallocTracking.open
    failed: list[bool] = []

    def opens_then_fails(self: TracemallocTracking) -> None:
        real_open(self)
        if not failed:  # the first-call measurement's, and no other
            failed.append(True)
            raise RuntimeError("opening failed once tracing began")

    monkeypatch.setattr(backend_module, "_first_calls_made", False)
    monkeypatch.setattr(TracemallocTracking, "open", opens_then_fails)
    was_tracing = real_is_tracing()
    backend = TracemallocBackend()
    try:
        tracking = backend.start(TrackingRequest(stack_depth=1))
        assert failed == [True]
        assert tracemalloc.reset_peak is real_reset_peak
        if not backend.tracing.keep:
            assert real_is_tracing() == was_tracing
        tracking.open()
        tracking.close()
        tracking.stop()
        assert isinstance(dict(backend.take_results())[tracking.handle], Measurement)
    finally:
        backend.close()
