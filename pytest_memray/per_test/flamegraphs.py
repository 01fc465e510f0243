"""Pictures of where a test's memory went (``--memray-flamegraphs``).

After a test's verdict (the tracking's and the baseline gate's), the backend draws a page from
the call's capture file: for a test that failed on its memory, or for every measured test with
``--memray-flamegraphs=all``. The failure gets a section naming the page, the junit-xml report
a ``memray_flamegraph`` property, and the JSON document the page's path. Capture files made
only for drawing are removed once drawn; those kept with ``--memray-bin-path`` stay.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path

import pytest

from pytest_memray.backends.interface import Backend
from pytest_memray.per_test.capture_files import capture_file_name
from pytest_memray.reporting.wire import CAPTURE_ATTR, FLAMEGRAPH_ATTR, MEMORY_FAILURE_ATTR

SECTION = "memray flamegraph"


class FlamegraphWriter:
    """Draws the pages, right after each test's verdict."""

    def __init__(self, backend: Backend, folder: Path, for_all: bool, keep_captures: bool) -> None:
        self._backend = backend
        self._folder = folder
        self._for_all = for_all
        self._keep_captures = keep_captures

    # tryfirst, registered after the baseline gate: the outermost wrapper, so that every
    # verdict is on the report already.
    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        capture = getattr(report, CAPTURE_ATTR, None)
        if report.when != "call" or capture is None:
            return report
        if self._for_all or getattr(report, MEMORY_FAILURE_ATTR, False):
            self._draw(item, report, Path(capture))
        if not self._keep_captures:
            Path(capture).unlink(missing_ok=True)
        return report

    def _draw(self, item: pytest.Item, report: pytest.TestReport, capture: Path) -> None:
        target = self._folder / capture_file_name("", item.nodeid, ".html").lstrip("-")
        problem = self._backend.write_flamegraph(capture, target, item.nodeid)
        if problem is not None:
            report.sections.append((SECTION, f"no flamegraph: {problem}"))
            return
        shown = os.path.relpath(target) if _is_under_cwd(target) else str(target)
        report.sections.append((SECTION, f"where this test's memory went: {shown}"))
        setattr(report, FLAMEGRAPH_ATTR, str(target))
        item.user_properties.append((FLAMEGRAPH_ATTR, str(target)))


def _is_under_cwd(path: Path) -> bool:
    try:
        path.relative_to(Path.cwd())
    except ValueError:
        return False
    return True
