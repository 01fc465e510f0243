"""The text of a memory failure: its one-line summary, its titled section, and marking a
test report as failed with it.

Allocation lists are laid out as the published plugin lays them out, so tools that read its
failures keep working (``../docs/migration.rst``).
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from pytest_memray.backends.interface import AllocationSite, is_plugin_file
from pytest_memray.per_test.leaked_objects import LeakedObjects
from pytest_memray.reporting.wire import MEMORY_FAILURE_ATTR, MEMORY_PROBLEM_ATTR
from pytest_memray.sizes import format_size
from pytest_memray.stack import StackFrame

MEMORY_SECTION = "memray-max-memory"
LEAKS_SECTION = "memray-leaked-memory"
OBJECTS_SECTION = "memray-tracked-objects"


@dataclass(frozen=True)
class Failure:
    """Why a test failed its memory limit: a one-line summary and a titled section."""

    summary: str
    section: str
    details: str


#: Allocations a limit_memory failure lists below verbosity 2; the rest are counted.
LISTED_SITES = 10
_INDENT = " " * 4


def render_sites(
    title: str, sites: Sequence[AllocationSite], stacks: int, most: int | None = None
) -> str:
    """A failure section's list of allocation sites, laid out as the published plugin does.

    One line per site, ``    - <size> allocated here:``, then its first ``stacks`` frames
    indented by eight spaces, then a line ``        ...`` if the stack had more frames. With
    ``most``, only the ``most`` largest sites are listed and a last line counts the others.
    A stack ends where the test's code was called from: the plugin's wrapper and pytest's
    frames below it are not the test's.
    """
    shown = list(sites)
    if most is not None:
        shown = sorted(shown, key=lambda site: site.size, reverse=True)[:most]
    lines = [title]
    for site in shown:
        stack = test_frames(site.stack)
        lines.append(f"{_INDENT}- {format_size(site.size)} allocated here:")
        lines += [f"{_INDENT * 2}{frame}" for frame in stack[:stacks]]
        if len(stack) > stacks:
            lines.append(f"{_INDENT * 2}...")
        if not stack:
            lines.append(f"{_INDENT * 2}<no Python frames>")
    if len(sites) > len(shown):
        lines.append(f"{_INDENT}...and {len(sites) - len(shown)} more")
    return "\n".join(lines)


def test_frames(stack: Sequence[StackFrame]) -> Sequence[StackFrame]:
    """``stack`` (newest frame first) up to the frame that called into the test's code: the
    first frame of the plugin's own code, below which only the harness runs (pytest, pluggy).
    """
    for index, frame in enumerate(stack):
        if is_plugin_file(frame.filename):
            return stack[:index]
    return stack


def filter_failure(marker: str, exc: BaseException) -> Failure:
    """The failure for a ``filter_fn`` that raised."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return Failure(
        summary=f"The filter_fn of {marker} raised {type(exc).__name__}: {exc}",
        section=f"{marker} filter_fn error",
        details=text.rstrip(),
    )


#: Object types a limit_leaked_objects failure lists; the rest are counted.
LISTED_TYPES = 10


def describe_leaked_objects(leaked: LeakedObjects) -> Failure:
    """The failure for objects that outlived the call, laid out as the published plugin does."""
    lines = [
        "List of leaked objects:",
        f"{_INDENT}Object types that leaked (total: {leaked.total} objects):",
    ]
    listed = leaked.by_type[:LISTED_TYPES]
    width = max((len(str(count)) for _, count in listed), default=1)
    lines += [f"{_INDENT * 2}- {count:>{width}} {name} instance(s)" for name, count in listed]
    if len(leaked.by_type) > len(listed):
        lines.append(f"{_INDENT * 2}... and {len(leaked.by_type) - len(listed)} more types")
    lines += ["", f"{_INDENT}Sample of leaked objects:"]
    lines += [f"{_INDENT * 2}- {text}" for text in leaked.sample]
    if leaked.total > len(leaked.sample):
        lines.append(f"{_INDENT * 2}... and {leaked.total - len(leaked.sample)} more")
    return Failure(
        summary=f"Test leaked {leaked.total} objects",
        section=OBJECTS_SECTION,
        details="\n".join(lines),
    )


def mark_failed(report: pytest.TestReport, failure: Failure) -> None:
    """Make ``report`` a failure with ``failure``'s summary and section."""
    report.outcome = "failed"
    report.longrepr = failure.summary
    setattr(report, MEMORY_FAILURE_ATTR, True)
    if failure.details:
        report.sections.append((failure.section, failure.details))
        # The letter M goes with a section, as published: a limit_memory failure below
        # verbosity 0 has none and shows F. A plain attribute travels through xdist.
        setattr(report, MEMORY_PROBLEM_ATTR, failure.section)
