"""A backend from another distribution, found through the ``pytest_memray.backends`` entry
points: the report, ``limit_memory`` and the JSON work through it unchanged, and a marker it
cannot serve is a clear error on that test, never a pass."""

from __future__ import annotations

import json
import sys

import pytest

from pytest_memray.gates.format import SCHEMA_FILE

from ..helpers import register_backend

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the sample backend reads /proc/self/statm"
)

RSS_BACKEND = """
import os

from pytest_memray.backends.interface import (
    ActiveTracking, Backend, Capabilities, Measurement,
)
from pytest_memray.backends.registry import BackendEntry

PAGE = os.sysconf("SC_PAGE_SIZE")


def resident():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


class RssTracking(ActiveTracking):
    def __init__(self, handle, backend):
        super().__init__(handle)
        self.backend = backend

    def open(self):
        self.before = resident()

    def close(self):
        self.after = resident()

    def stop(self):
        grown = max(0, self.after - self.before)
        self.backend.hand_over(
            self.handle,
            Measurement(peak_bytes=grown, allocation_count=None, notes=["resident memory"]),
        )


class RssBackend(Backend):
    name = "rss"
    version = "0.1"
    capabilities = Capabilities(
        native_allocations=True,
        native_frames=False,
        thread_ids=False,
        allocation_counts=False,
        python_allocator_tracing=False,
        exact_peak=False,
        allocation_sites=False,
        leaked_sites=False,
        capture_suffix=".rss",
        capture_reader="nothing",
    )

    def start(self, request):
        return RssTracking(self.next_handle(), self)


ENTRY = BackendEntry(
    name="rss",
    summary="growth of the resident set size (a coarse sample)",
    rank=0,
    unavailable_reason=lambda: None,
    build=lambda context: RssBackend(),
)
"""

SUITE = """
import pytest

KEEP = []

def test_keeps_forty_mebibytes():
    KEEP.append(b"x" * (40 * 1024 * 1024))

@pytest.mark.limit_memory("10 MB")
def test_over_its_limit():
    KEEP.append(b"y" * (40 * 1024 * 1024))

@pytest.mark.limit_leaks("1 MB")
def test_leaks_forty_mebibytes():
    KEEP.append(b"z" * (40 * 1024 * 1024))
"""


@pytest.fixture
def rss(pytester: pytest.Pytester) -> pytest.Pytester:
    register_backend(pytester, "rss_backend", RSS_BACKEND, "rss")
    pytester.makepyfile(test_subject=SUITE)
    return pytester


def test_an_unknown_name_lists_the_backend_with_its_summary(rss: pytest.Pytester) -> None:
    result = rss.runpytest("--memray", "--memray-backend=nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "rss: growth of the resident set size" in " ".join(result.stderr.str().split())


def test_report_limit_and_json_through_a_third_backend(rss: pytest.Pytester) -> None:
    result = rss.runpytest(
        "--memray", "--memray-backend=rss", "--memray-json=out.json", "-p", "no:randomly"
    )
    result.assert_outcomes(passed=1, failed=1, errors=1)
    result.stdout.fnmatch_lines(["*memray backend: rss 0.1 (sees native allocations)*"])
    # Resident growth, not allocation: pages an earlier test freed but the allocator kept
    # resident (mimalloc on free-threaded builds) are not counted again, so it can read less.
    result.stdout.re_match_lines([r"Test was limited to 10\.0MiB but allocated [1-4]\d\.\dMiB"])
    # Its capabilities say it records no sites: the failure says so instead of an empty list.
    result.stdout.fnmatch_lines(
        ["List of allocations:", "*(the rss backend does not record where memory is allocated)"]
    )
    result.stdout.fnmatch_lines(
        [
            "*test_leaks_forty_mebibytes*limit_leaks needs a backend that reports leaked "
            "allocations by call stack; the rss backend does not*"
        ]
    )
    result.stdout.fnmatch_lines(
        ["Allocation results for test_subject.py::test_keeps_forty_mebibytes at the high watermark"]
    )
    document = json.loads((rss.path / "out.json").read_text(encoding="utf-8"))
    assert document["backend"]["name"] == "rss"
    tests = {test["nodeid"]: test for test in document["tests"]}
    kept = tests["test_subject.py::test_keeps_forty_mebibytes"]
    assert 20 * 1024 * 1024 <= kept["peak_bytes"] <= 48 * 1024 * 1024
    assert kept["allocations"] is None
    assert tests["test_subject.py::test_over_its_limit"]["outcome"] == "failed"
    assert "test_subject.py::test_leaks_forty_mebibytes" not in tests


def test_auto_still_prefers_the_built_in_backends(rss: pytest.Pytester) -> None:
    result = rss.runpytest("--memray", "-k", "keeps")
    result.assert_outcomes(passed=1)
    assert "memray backend: rss" not in result.stdout.str()


BROKEN_BACKEND = """
from pytest_memray.backends.builtin import TRACEMALLOC
from pytest_memray.backends.interface import Backend
from pytest_memray.backends.registry import BackendEntry


class Broken(Backend):
    name = "broken"
    version = "0"

    def __init__(self, inner):
        super().__init__()
        self.capabilities = inner.capabilities

    def start(self, request):
        raise OSError(28, "No space left on device")


ENTRY = BackendEntry(
    name="broken",
    summary="cannot start",
    rank=0,
    unavailable_reason=lambda: None,
    build=lambda context: Broken(TRACEMALLOC.build(context)),
)
"""


def test_a_backend_that_cannot_start_leaves_the_test_unmeasured_not_failed(
    pytester: pytest.Pytester,
) -> None:
    register_backend(pytester, "broken_backend", BROKEN_BACKEND, "broken")
    pytester.makepyfile(
        test_subject="""
import pytest

def test_plain():
    assert True

@pytest.mark.limit_memory("1 MB")
def test_limited():
    assert True
"""
    )
    result = pytester.runpytest(
        "--memray", "--memray-backend=broken", "--memray-json=out.json", "-p", "no:randomly"
    )
    result.assert_outcomes(passed=1, failed=1)
    reason = "the broken backend could not start tracking it ([Errno 28] No space left on device)"
    text = result.stdout.str()
    assert (
        f"Test was limited to 1.0MiB, but the memory of this test could not be measured: {reason}"
        in text
    )
    assert "Not measured (2 tests)" in text
    assert f"test_subject.py::test_plain: {reason}" in text
    # In the JSON: no peak (null, never 0), the reason, valid against the schema.
    document = json.loads((pytester.path / "out.json").read_text(encoding="utf-8"))
    for test in document["tests"]:
        assert test["peak_bytes"] is None
        assert test["not_measured"] == reason
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(document, json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))
