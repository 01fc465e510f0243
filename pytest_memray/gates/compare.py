"""Comparing a run with its baseline: the verdict and the tables a reviewer reads.

``compare_documents`` pairs the tests of a base and a head document (through
:mod:`.matching`, so that ids relative to different rootdirs still pair), and sorts them into:

* **grew**: the peak grew by more than the noise floor, or past the allowance (always listed);
* **improved**: the peak shrank by more than the noise floor, in a section of its own;
* tests whose peak moved by no more than the noise floor: counted, not listed;
* **new** tests (only in the head), **gone** tests (only in the base), and tests **not
  compared** because one side has no figure or the base's test did not pass (with the reason;
  never read as 0 B).

It also decides whether the comparison could judge at all (:attr:`Comparison.problems`): a
comparison that compared no test, or fewer than ``min_compared``, a document that lacks a
shard, or gone tests when ``fail_gone`` is set, cannot say "nothing grew". The exit status
(:attr:`Comparison.status`) follows: 2 when it could not judge, 1 when a test grew past the
allowance, 0 otherwise. The pytest gate (``--memray-baseline``) builds the same comparison of
its baseline and the session's results, so both print the same tables.

:mod:`.render` prints it: text, Markdown or JSON.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from pytest_memray.gates import DEFAULT_MIN_COMPARED
from pytest_memray.gates.allowance import DEFAULT_ALLOWANCE, DEFAULT_FLOOR, Allowance
from pytest_memray.gates.documents import Document, Entry, check_same_backend
from pytest_memray.gates.matching import Matching, likely_cause, match_ids

#: Rows per table unless told otherwise (the rest are counted: "and N more").
DEFAULT_MAX_ROWS = 30
#: GitHub refuses comments longer than 65,536 characters; leave room for text around ours.
MARKDOWN_BUDGET = 60_000


# -- the rules ---------------------------------------------------------------------------------


_MIN_PATTERN = re.compile(r"^\s*(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(?P<percent>%?)\s*$")


@dataclass(frozen=True)
class MinCompared:
    """The fewest tests a gate must compare: a count, or a percentage of the measured tests.

    Never less than one: a gate that compared nothing has judged nothing.
    """

    count: int = 1
    percent: Fraction | None = None

    def required(self, measured: int) -> int:
        if self.percent is None:
            return max(1, self.count)
        return max(1, math.ceil(measured * self.percent / 100))

    def __str__(self) -> str:
        if self.percent is None:
            return str(self.count)
        text = (
            str(self.percent.numerator)
            if self.percent.denominator == 1
            else str(float(self.percent))
        )
        return f"{text}%"


def parse_min_compared(text: str | None) -> MinCompared:
    """Read ``"5"`` (tests) or ``"90%"`` (of the measured tests); blank means the default (1).

    Raises:
        ValueError: naming ``text`` for anything else, 0 and percentages over 100 included.
    """
    if text is None or not str(text).strip():
        text = DEFAULT_MIN_COMPARED
    match = _MIN_PATTERN.match(str(text)) if str(text).isascii() else None
    bad = ValueError(
        f"invalid minimum {text!r}: expected a number of tests of at least 1 such as '10', or "
        "a percentage of the measured tests such as '90%'"
    )
    if match is None:
        raise bad
    number = Fraction(Decimal(match.group("number")))
    if match.group("percent"):
        if not 0 < number <= 100:
            raise bad
        return MinCompared(percent=number)
    if number.denominator != 1 or number < 1:
        raise bad
    return MinCompared(count=int(number))


@dataclass(frozen=True)
class Rules:
    """How a comparison judges: the allowance, the noise floor, and when it cannot judge."""

    allowance: Allowance = DEFAULT_ALLOWANCE
    noise_floor: Allowance = DEFAULT_FLOOR
    min_compared: MinCompared = field(default_factory=MinCompared)
    #: Tests of the base that are not in the head make the comparison fail (status 2).
    fail_gone: bool = False


# -- the comparison ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """A test measured on both sides whose peak moved past the noise floor (or the allowance)."""

    nodeid: str
    old: int
    new: int
    over_allowance: bool
    #: The base's id for the test, when it differs (ids relative to another rootdir).
    base_nodeid: str | None = None

    @property
    def delta(self) -> int:
        return self.new - self.old

    @property
    def percent(self) -> float | None:
        """The change in percent of the old peak; None when the old peak was 0."""
        return self.delta * 100 / self.old if self.old else None


@dataclass(frozen=True)
class Unmeasured:
    """A test on both sides that one of them has no figure for."""

    nodeid: str
    base: str | None
    head: str | None

    def reason(self) -> str:
        parts = []
        if self.base is not None:
            parts.append(f"base: {self.base}")
        if self.head is not None:
            parts.append(f"head: {self.head}")
        return "; ".join(parts)


@dataclass(frozen=True)
class Comparison:
    """The outcome of comparing a base document with a head document."""

    base_path: str
    head_path: str
    backend: str
    rules: Rules
    matching: Matching
    #: Tests the base lists, and tests the head measured.
    base_tests: int = 0
    head_measured: int = 0
    grew: list[Change] = field(default_factory=list)
    improved: list[Change] = field(default_factory=list)
    #: Compared tests whose peak moved by no more than the noise floor (``unchanged`` of them
    #: not at all).
    within_noise: int = 0
    unchanged: int = 0
    new: list[Entry] = field(default_factory=list)
    gone: list[Entry] = field(default_factory=list)
    not_compared: list[Unmeasured] = field(default_factory=list)
    #: Why the comparison could not judge; empty when it could.
    problems: list[str] = field(default_factory=list)

    @property
    def allowance(self) -> Allowance:
        return self.rules.allowance

    @property
    def compared(self) -> int:
        return len(self.grew) + len(self.improved) + self.within_noise

    @property
    def regressions(self) -> list[Change]:
        """The changes that grew past the allowance."""
        return [change for change in self.grew if change.over_allowance]

    @property
    def status(self) -> int:
        """2: could not judge; 1: a test grew past the allowance; 0: judged, none grew."""
        if self.problems:
            return 2
        return 1 if self.regressions else 0

    def problem_line(self) -> str:
        """The one line that says why the comparison could not judge."""
        return "; ".join(self.problems)


def _sorted(changes: list[Change]) -> list[Change]:
    return sorted(changes, key=lambda change: (-abs(change.delta), change.nodeid))


def compare_documents(
    base: Document,
    head: Document,
    rules: Rules | None = None,
    matching: Matching | None = None,
    head_name: str | None = None,
) -> Comparison:
    """Pair and judge the tests of ``base`` and ``head`` (refuses different backends).

    ``matching`` gives the pairs when the caller worked them out already (the pytest gate);
    by default the ids are matched here. ``head_name`` names the head in messages.
    """
    rules = rules or Rules()
    check_same_backend(base, head)
    if matching is None:
        matching = match_ids(base.entries, head.entries)
    grew: list[Change] = []
    improved: list[Change] = []
    new_tests: list[Entry] = []
    not_compared: list[Unmeasured] = []
    within = unchanged = 0
    matched: set[str] = set()
    for nodeid, entry in head.entries.items():
        base_id = matching.base_of(nodeid)
        old = None if base_id is None else base.entries.get(base_id)
        if old is None or base_id is None:
            new_tests.append(entry)
            continue
        matched.add(base_id)
        if old.reference_peak is None or entry.peak_bytes is None:
            not_compared.append(Unmeasured(nodeid, old.no_reference, entry.not_measured))
            continue
        before, after = old.reference_peak, entry.peak_bytes
        over = not rules.allowance.permits(before, after)
        if before == after:
            unchanged += 1
            within += 1
        elif rules.noise_floor.covers(before, after) and not over:
            within += 1
        else:
            change = Change(nodeid, before, after, over, base_id if base_id != nodeid else None)
            (grew if after > before else improved).append(change)
    gone = [entry for nodeid, entry in base.entries.items() if nodeid not in matched]
    comparison = Comparison(
        base.path,
        head.path,
        base.backend,
        rules,
        matching,
        base_tests=len(base.entries),
        head_measured=head.measured,
        grew=_sorted(grew),
        improved=_sorted(improved),
        within_noise=within,
        unchanged=unchanged,
        new=new_tests,
        gone=gone,
        not_compared=not_compared,
    )
    comparison.problems.extend(_problems(comparison, base, head, head_name or head.path))
    return comparison


def _problems(result: Comparison, base: Document, head: Document, head_name: str) -> list[str]:
    problems = []
    for document, name in ((base, base.path), (head, head_name)):
        if document.incomplete is not None:
            problems.append(f"{name} is {document.incomplete}")
    rules = result.rules
    required = rules.min_compared.required(result.head_measured)
    if result.compared < required:
        measured = [nodeid for nodeid, e in head.entries.items() if e.peak_bytes is not None]
        cause = likely_cause(base.entries, measured, base.rootdir, head.rootdir, head_name)
        if result.compared == 0:
            counted = "compared no test"
        else:
            counted = (
                f"compared {result.compared} tests, fewer than the {required} required "
                f"(minimum {rules.min_compared})"
            )
        problems.append(
            f"{counted}: {head_name} measured {result.head_measured} tests and the baseline "
            f"{base.path} holds {result.base_tests}; likely cause: {cause}"
        )
    if rules.fail_gone and result.gone:
        names = ", ".join(entry.nodeid for entry in result.gone[:3])
        more = f" and {len(result.gone) - 3} more" if len(result.gone) > 3 else ""
        problems.append(
            f"{len(result.gone)} tests of the baseline {base.path} did not run in {head_name} "
            f"({names}{more}), and gone tests fail the gate"
        )
    return problems
