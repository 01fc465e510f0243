"""Helpers shared by the behavioural tests."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest

from pytest_memray.backends.builtin import memray_unavailable_reason
from pytest_memray.backends.interface import ActiveTracking, Backend, Outcome, TrackingRequest
from pytest_memray.backends.tracemalloc.sampler import profilers_see_other_threads_safely

MEMRAY_MISSING = memray_unavailable_reason()

requires_memray = pytest.mark.skipif(
    MEMRAY_MISSING is not None, reason=f"needs the memray backend: {MEMRAY_MISSING}"
)


def _threads_start() -> bool:
    try:
        thread = threading.Thread(target=lambda: None)
        thread.start()
    except RuntimeError:  # CPython on WebAssembly: "can't start new thread"
        return False
    thread.join()
    return True


requires_threads = pytest.mark.skipif(
    not _threads_start(), reason="threads cannot start on this platform"
)
#: cProfile is not thread-safe on a free-threaded build before Python 3.15 (CPython
#: gh-125165): started or stopped while another thread runs Python code, it can hang the
#: process. Every xdist worker has such a thread (execnet's receiver), and it hung there
#: without this plugin too (a conftest with tracemalloc and a profile hook: 1 run in 40).
CPROFILE_IS_THREAD_SAFE = profilers_see_other_threads_safely()
CPROFILE_UNSAFE_REASON = (
    "cProfile beside another thread can hang a free-threaded build before Python 3.15 "
    "(CPython gh-125165), with or without this plugin"
)
requires_thread_safe_cprofile = pytest.mark.skipif(
    not CPROFILE_IS_THREAD_SAFE, reason=CPROFILE_UNSAFE_REASON
)
requires_sampler = pytest.mark.skipif(
    not _threads_start() or not CPROFILE_IS_THREAD_SAFE,
    reason="the tracemalloc backend has no sampler thread here (no threads, or a free-threaded "
    "build before Python 3.15, where cProfile is not safe beside another thread)",
)
requires_subprocess = pytest.mark.skipif(
    sys.platform in ("emscripten", "wasi"), reason="processes cannot be started on WebAssembly"
)
requires_xdist = pytest.mark.skipif(
    importlib.util.find_spec("xdist") is None, reason="needs pytest-xdist"
)
requires_asyncio = pytest.mark.skipif(
    importlib.util.find_spec("anyio") is None or importlib.util.find_spec("ssl") is None,
    reason="needs anyio and an asyncio with ssl (missing from Pyodide's npm package)",
)


class Runner:
    """Runs pytest in-process on files made with ``pytester``, on one backend."""

    def __init__(self, pytester: pytest.Pytester, backend: str) -> None:
        self.pytester = pytester
        self.backend = backend

    def run(self, *args: str) -> pytest.RunResult:
        return self.pytester.runpytest(f"--memray-backend={self.backend}", *args)

    def write(self, source: str, name: str = "test_subject") -> None:
        self.pytester.makepyfile(**{name: source})

    def run_source(self, source: str, *args: str) -> pytest.RunResult:
        self.write(source)
        return self.run(*args)


def report_blocks(lines: Sequence[str]) -> dict[str, list[str]]:
    """Split the MEMRAY REPORT into one list of lines per reported test id."""
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    started = False
    for line in lines:
        if "MEMRAY REPORT" in line:
            started = True
            continue
        if not started:
            continue
        if line.startswith("Allocation results for "):
            nodeid = line[len("Allocation results for ") :].split(" at the high watermark")[0]
            current = blocks.setdefault(nodeid, [])
        elif line.startswith("==="):
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def assert_current_thread_only(result: pytest.RunResult, backend: str) -> None:
    """A test whose helper thread broke the limit: memray ignores that thread, tracemalloc
    cannot tell threads apart, so it counts them all and says so once."""
    if backend == "memray":
        result.assert_outcomes(passed=1)
    else:
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines(["*current_thread_only=True: the tracemalloc backend*"])


def open_window(tracking: ActiveTracking) -> None:
    """Open ``tracking`` as the plugin's wrapper does, making its last step here."""
    step = tracking.open()
    if step is not None:
        try:
            step.run()
        except Exception as exc:
            step.failed(exc)


@contextmanager
def tracked(backend: Backend, request: TrackingRequest) -> Iterator[list[Outcome]]:
    """Track the block with ``backend`` directly, as the plugin tracks a test's own code;
    the list it gives holds the outcome once the block is over."""
    box: list[Outcome] = []
    tracking = backend.start(request)
    open_window(tracking)
    try:
        yield box
    finally:
        tracking.close()
        tracking.stop()
        ready = dict(backend.take_results())
        if tracking.handle not in ready:  # a backend that hands outcomes over later
            backend.finish()
            ready.update(backend.take_results())
        box.append(ready[tracking.handle])


def register_backend(pytester: pytest.Pytester, module: str, source: str, name: str) -> None:
    """Make ``source`` an installed distribution whose ``ENTRY`` is registered as backend
    ``name`` in the ``pytest_memray.backends`` entry-point group, as a third party would."""
    pytester.makepyfile(**{module: source})
    info = pytester.path / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        f"[pytest_memray.backends]\n{name} = {module}:ENTRY\n", encoding="utf-8"
    )
    pytester.syspathinsert()


COUNTING_BACKEND = """
from pytest_memray.backends.builtin import MEMRAY, TRACEMALLOC
from pytest_memray.backends.interface import Backend
from pytest_memray.backends.registry import BackendEntry

STARTS = []
INNER = {"memray": MEMRAY, "tracemalloc": TRACEMALLOC}[{inner!r}]


class Counting(Backend):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.name = "counting"
        self.version = inner.version
        self.capabilities = inner.capabilities

    def start(self, request):
        STARTS.append(request)
        return self.inner.start(request)

    def take_results(self):
        return self.inner.take_results()

    def finish(self, **kwargs):
        self.inner.finish(**kwargs)

    def recover(self, process_id):
        return self.inner.recover(process_id)

    def close(self):
        self.inner.close()


ENTRY = BackendEntry(
    name="counting",
    summary="counts the calls it tracks",
    rank=0,
    unavailable_reason=lambda: None,
    build=lambda context: Counting(INNER.build(context)),
)
"""


def counting_backend(pytester: pytest.Pytester, inner: str) -> list[object]:
    """Register backend ``counting``: ``inner``, noting each start in the list returned."""
    register_backend(
        pytester, "counting_backend", COUNTING_BACKEND.replace("{inner!r}", repr(inner)), "counting"
    )
    # Imported here, so that the in-process run finds it loaded and leaves it loaded.
    module = importlib.import_module("counting_backend")
    starts: list[object] = module.STARTS
    return starts
