"""Helpers shared by the behavioural tests."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence

import pytest

from pytest_memray.backends.selection import memray_unavailable_reason

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
