"""Each limit judging the evidence it is given: unit tests of what decides, run on every
platform and backend (they need neither memray nor a pytest run)."""

from __future__ import annotations

import pytest

from pytest_memray.backends.interface import AllocationSite, Measurement, NotMeasured
from pytest_memray.per_test.limits import Judging, LeaksLimit, MemoryLimit
from pytest_memray.stack import StackFrame

JUDGING = Judging(nodeid="t.py::test", stacks=1, verbosity=0)
SITE = AllocationSite(1024, 1, (StackFrame("test", "t.py", 3),))


def _measured(peak: int) -> Measurement:
    return Measurement(peak_bytes=peak, allocation_count=1, peak_sites=[SITE._replace(size=peak)])


@pytest.mark.parametrize(
    ("peak", "fails"),
    [(1023, False), (1024, True), (1025, True)],
    ids=["below", "exactly-at", "above"],
)
def test_a_peak_that_reaches_the_limit_fails(peak: int, fails: bool) -> None:
    """As published: the limit passes while the peak is strictly below it."""
    failure = MemoryLimit(1024).check(_measured(peak), JUDGING)
    assert (failure is not None) is fails
    if failure is not None:
        assert failure.summary.startswith("Test was limited to 1.0KiB but allocated")


def test_a_limit_never_passes_on_a_figure_that_was_not_measured() -> None:
    failure = MemoryLimit(1024).check(NotMeasured("its worker crashed"), JUDGING)
    assert failure is not None
    assert failure.summary == (
        "Test was limited to 1.0KiB, but the memory of this test could not be measured: "
        "its worker crashed"
    )


@pytest.mark.parametrize(("leaked", "fails"), [(1023, False), (1024, True)])
def test_a_leak_that_reaches_the_location_limit_fails(leaked: int, fails: bool) -> None:
    measurement = _measured(0)
    measurement.leaked_sites = [SITE._replace(size=leaked)]
    failure = LeaksLimit(1024).check(measurement, JUDGING)
    assert (failure is not None) is fails


def test_leaks_not_reported_never_pass() -> None:
    failure = LeaksLimit(1024).check(_measured(0), JUDGING)  # leaked_sites None
    assert failure is not None
    assert "could not be measured" in failure.summary
