"""The tracemalloc backend's page of where a call's memory went: every text escaped, largest
stacks first, a clear reason when the capture file cannot be read."""

from __future__ import annotations

from pathlib import Path

from pytest_memray.backends.interface import AllocationSite
from pytest_memray.backends.tracemalloc.page import LISTED, render, write_page
from pytest_memray.stack import StackFrame


def _site(size: int, function: str) -> AllocationSite:
    return AllocationSite(size, 1, (StackFrame(function, "t.py", 3),))


def test_texts_from_the_snapshot_are_escaped() -> None:
    page = render([_site(100, "<script>alert(1)</script>")], 'test_x[<img src=x onerror="y">]')
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img" not in page


def test_stacks_beyond_the_listed_are_counted() -> None:
    sites = [_site(1000 - i, f"f{i}") for i in range(LISTED + 3)]
    page = render(sites, "t")
    assert page.count("<tr><td") == LISTED + 1
    assert "and 3 more call stacks" in page


def test_an_unreadable_capture_file_says_why(tmp_path: Path) -> None:
    capture = tmp_path / "broken.tracemalloc"
    capture.write_bytes(b"not a snapshot")
    problem = write_page(capture, tmp_path / "page.html", "t")
    assert problem is not None
    assert problem.startswith("the capture file broken.tracemalloc could not be read")
    assert not (tmp_path / "page.html").exists()
