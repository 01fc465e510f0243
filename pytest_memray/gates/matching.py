"""Matching the test ids of two runs, whatever folder each run was started from.

A pytest node id is ``<path>::<name>``, the path relative to pytest's rootdir; without an ini
file the rootdir depends on where pytest was started and what it was given, so the same test
is ``demo/test_demo.py::test_a`` in one run and ``test_demo.py::test_a`` in another. Ids are
matched in two steps:

1. The same id on both sides is the same test.
2. The ids left over on both sides are matched through *one* folder prefix that one side's
   paths carry and the other's lack (what a rootdir shift does to every id at once): among the
   prefixes that would turn a left-over id of the run into a left-over id of the baseline (same
   name after ``::``, one path ending with the other, on ``/`` boundaries), the one that
   matches most tests is applied to every left-over id, and no other. One prefix for the whole
   run, never a guess per test: two different tests in different folders are never paired
   because their file names happen to agree, and each baseline test is matched at most once.

The matching is pure: the same ids give the same pairs, in the pytest gate (where the ids of
the run are the collected tests) and in ``compare`` (the head document's tests).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field


def split_id(nodeid: str) -> tuple[tuple[str, ...], str]:
    """The path of ``nodeid`` as folder parts, and the rest (``::name``, or empty)."""
    path, separator, rest = nodeid.partition("::")
    return tuple(path.split("/")), separator + rest


@dataclass(frozen=True, order=True)
class Shift:
    """A folder prefix the baseline's ids carry and the run's lack (``added``), or the other
    way round (``added`` False)."""

    prefix: str
    added: bool

    def apply(self, run_id: str) -> str | None:
        """The baseline id ``run_id`` stands for under this shift (None: it cannot)."""
        if self.added:
            return self.prefix + run_id
        if run_id.startswith(self.prefix) and len(run_id) > len(self.prefix):
            return run_id[len(self.prefix) :]
        return None

    def describe(self, run: str = "this run") -> str:
        if self.added:
            return f"the baseline's ids carry the folder {self.prefix!r} that {run}'s lack"
        return f"{run}'s ids carry the folder {self.prefix!r} that the baseline's lack"


@dataclass(frozen=True)
class Matching:
    """Which baseline id each run id stands for."""

    #: run id -> baseline id, for every run id that has one.
    pairs: dict[str, str] = field(default_factory=dict)
    #: The prefix applied to ids that did not match as they are; None when none was needed.
    shift: Shift | None = None
    #: How many pairs the shift made.
    shifted: int = 0

    def base_of(self, run_id: str) -> str | None:
        return self.pairs.get(run_id)


def match_ids(base_ids: Iterable[str], run_ids: Iterable[str]) -> Matching:
    """Pair ``run_ids`` with ``base_ids`` as the module's docstring says."""
    base = list(dict.fromkeys(base_ids))
    run = list(dict.fromkeys(run_ids))
    known = set(base)
    pairs = {run_id: run_id for run_id in run if run_id in known}
    left_base = known - set(pairs)
    left_run = [run_id for run_id in run if run_id not in pairs]
    if not left_base or not left_run:
        return Matching(pairs)
    by_name: dict[tuple[str, str], list[tuple[str, ...]]] = {}
    for base_id in left_base:
        parts, rest = split_id(base_id)
        by_name.setdefault((parts[-1], rest), []).append(parts)
    votes: Counter[Shift] = Counter()
    for run_id in left_run:
        parts, rest = split_id(run_id)
        for other in by_name.get((parts[-1], rest), ()):
            if len(other) > len(parts) and other[-len(parts) :] == parts:
                votes[Shift("/".join(other[: len(other) - len(parts)]) + "/", True)] += 1
            elif len(parts) > len(other) and parts[-len(other) :] == other:
                votes[Shift("/".join(parts[: len(parts) - len(other)]) + "/", False)] += 1
    if not votes:
        return Matching(pairs)
    # The prefix that matches most; among equals the shortest, then the first in order.
    shift = min(votes, key=lambda s: (-votes[s], len(s.prefix), s))
    shifted = 0
    for run_id in left_run:
        target = shift.apply(run_id)
        if target is not None and target in left_base:
            left_base.discard(target)
            pairs[run_id] = target
            shifted += 1
    return Matching(pairs, shift, shifted)


def likely_cause(
    base_ids: Iterable[str],
    run_ids: Iterable[str],
    base_rootdir: str | None,
    run_rootdir: str | None,
    run: str = "this run",
) -> str:
    """Why no test (or few) could be paired: a guess worded for the user, in one sentence."""
    base = list(base_ids)
    ran = list(run_ids)
    if not ran:
        return f"{run} has no measured test"
    if not base:
        return "the baseline lists no test"
    rootdirs = ""
    if base_rootdir and run_rootdir and base_rootdir != run_rootdir:
        rootdirs = f" (the baseline's rootdir was {base_rootdir}, {run}'s is {run_rootdir})"
    names = {split_id(nodeid)[1] or nodeid for nodeid in base}
    common = sum(1 for nodeid in ran if (split_id(nodeid)[1] or nodeid) in names)
    if common:
        return (
            f"{common} of {run}'s test names are in the baseline under other paths: the ids "
            f"are relative to another rootdir{rootdirs}, or the files moved; run pytest from "
            "the folder the baseline was made from, or give both runs the same rootdir "
            "(an ini file, or --rootdir)"
        )
    return (
        f"no test name of {run} is in the baseline: it is the baseline of another suite, or "
        f"every test was renamed{rootdirs}"
    )
