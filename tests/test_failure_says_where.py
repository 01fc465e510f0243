"""Every limit failure lists the sites that hold the peak (issue 18, item 8): together at
least nine tenths of the peak's bytes, with ``--stacks`` frames each, for tests of any
length, with frames named as Python names them."""

from __future__ import annotations

import re
import sys

from .helpers import Runner


def _comprehension(test: str) -> str:
    """The frame a list comprehension in ``test`` is named by: its own before Python 3.12, the
    function's since PEP 709 inlines it (``test_long``'s is ``test_long``, not ``test_loop``)."""
    return "<listcomp>" if sys.version_info < (3, 12) else test


SHORT_AND_LONG = """
import pytest
def noop():
    pass

def helper_spike():
    scratch = [bytearray(3000) for _ in range(10)]
    return len(scratch)

@pytest.mark.limit_memory("1 KB")
def test_loop():
    kept = [bytearray(2000) for _ in range(12)]

@pytest.mark.limit_memory("1 KB")
def test_long():
    for _ in range(200):  # past the profile hook's events
        noop()
    kept = [bytearray(2000) for _ in range(12)]
    for _ in range(200):
        noop()

@pytest.mark.limit_memory("1 KB")
def test_peak_in_a_helper():
    assert helper_spike() == 10
    small = bytearray(100)

@pytest.mark.limit_memory("1 KB")
def test_lambda_and_generator():
    kept = sorted([bytearray(2000) for _ in range(12)], key=lambda item: len(item))
    total = sum(len(bytearray(1500)) for _ in range(3))
"""


_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}


def parse_size(text: str) -> int:
    """A size as the failure text prints it (``24.5KiB``)."""
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return int(float(number) * _UNITS[unit])


def _failures(text: str) -> dict[str, tuple[int, list[tuple[int, list[str]]]]]:
    """Per failed test: its peak, and the sites listed (size, frames)."""
    failures: dict[str, tuple[int, list[tuple[int, list[str]]]]] = {}
    names = re.findall(r"\n_{3,} (\w+) _{3,}\n", text)
    bodies = re.split(r"\n_{3,} \w+ _{3,}\n", text)[1:]
    for name, body in zip(names, bodies, strict=True):
        peak = re.search(r"but allocated (\S+)", body)
        assert peak is not None, body
        sites: list[tuple[int, list[str]]] = []
        for line in body.splitlines():
            site = re.match(r"    - (\S+) allocated here:", line)
            if site:
                sites.append((parse_size(site.group(1)), []))
            elif line.startswith(" " * 8) and sites:
                sites[-1][1].append(line.strip())
        failures[name] = (parse_size(peak.group(1)), sites)
    return failures


def test_a_failure_lists_the_sites_of_the_peak(runner: Runner) -> None:
    result = runner.run_source(SHORT_AND_LONG, "--memray", "--stacks=2", "-vv", "-p", "no:randomly")
    result.assert_outcomes(failed=4)
    failures = _failures(result.stdout.str().split("MEMRAY REPORT")[0])
    assert set(failures) == {
        "test_loop",
        "test_long",
        "test_peak_in_a_helper",
        "test_lambda_and_generator",
    }
    for name, (peak, sites) in failures.items():
        # sizes are printed rounded to a tenth of a unit
        assert sum(size for size, _ in sites) >= 0.9 * peak - 0.05 * 1024 * len(sites), (
            name,
            sites,
        )
        for _, frames in sites:
            assert 1 <= len(frames) <= 3, (name, frames)  # two frames, "..." when cut
            assert not any("pytest_memray" in frame for frame in frames), frames
            assert not any("_pytest" in frame for frame in frames), frames
    top = {name: sites[0][1] for name, (_, sites) in failures.items()}
    for name in ("test_loop", "test_long", "test_lambda_and_generator"):
        assert top[name][0].startswith(f"{_comprehension(name)}:"), (name, top[name])
    assert top["test_peak_in_a_helper"][0].split(":")[0] in ("<listcomp>", "helper_spike")


def test_no_note_about_readings_where_none_pictured(runner: Runner) -> None:
    result = runner.run_source(SHORT_AND_LONG, "--memray", "-p", "no:randomly", "-k", "test_loop")
    result.assert_outcomes(failed=1)
    assert "memray note" not in result.stdout.str()
