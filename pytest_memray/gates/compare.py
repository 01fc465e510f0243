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

The ``render_*`` functions print it: text for a terminal, Markdown for a pull request (kept
under GitHub's 65,536-character comment limit), JSON for programs. Tables are sorted by the
absolute change and capped at ``max_rows``, with "and N more".
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from pytest_memray.gates import DEFAULT_MIN_COMPARED
from pytest_memray.gates.allowance import DEFAULT_ALLOWANCE, DEFAULT_FLOOR, Allowance
from pytest_memray.gates.documents import Document, Entry, check_same_backend
from pytest_memray.gates.matching import Matching, likely_cause, match_ids
from pytest_memray.sizes import format_size

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


# -- words shared by the renderers -------------------------------------------------------------


def _signed_size(delta: int) -> str:
    return ("+" if delta > 0 else "-") + format_size(abs(delta))


def _change_text(change: Change) -> str:
    if change.old == 0:
        return f"new allocation: {format_size(change.new)}"
    return _signed_size(change.delta)


def _percent(change: Change) -> str:
    percent = change.percent
    if percent is None:
        return ""
    if abs(percent) < 0.05:  # would print as 0.0% although the peak moved
        return f"{'+' if percent > 0 else '-'}<0.1%"
    return f"{percent:+.1f}%"


def _peak_or_reason(entry: Entry) -> str:
    if entry.peak_bytes is None:
        return f"not measured ({entry.not_measured})"
    return format_size(entry.peak_bytes)


def _tests(count: int) -> str:
    return f"{count} test" if count == 1 else f"{count} tests"


def verdict(result: Comparison) -> str:
    """The comparison's conclusion, in one line."""
    if result.problems:
        return f"Could not judge: {result.problem_line()}."
    count = len(result.regressions)
    if count:
        return f"{_tests(count)} grew past the allowed increase of {result.allowance}."
    return (
        f"No test grew past the allowed increase of {result.allowance} "
        f"({result.compared} compared)."
    )


def summary(result: Comparison, head_name: str | None = None) -> str:
    """How many tests were compared, out of how many measured, against how many."""
    head = head_name or result.head_path
    return (
        f"Compared {result.compared} of the {result.head_measured} tests measured in {head} "
        f"with the baseline {result.base_path} ({_tests(result.base_tests)}, "
        f"{result.backend} backend)."
    )


def _rules_line(result: Comparison) -> str:
    within = result.within_noise
    if not result.compared:
        return f"Allowed increase {result.allowance}; noise floor {result.rules.noise_floor}."
    return (
        f"Allowed increase {result.allowance}; noise floor {result.rules.noise_floor}: "
        f"{_tests(within)} moved by no more than it ({result.unchanged} not at all) and "
        f"{'is' if within == 1 else 'are'} not listed."
    )


def _shift_line(result: Comparison, head_name: str) -> str | None:
    shift = result.matching.shift
    if shift is None or not result.matching.shifted:
        return None
    return (
        f"{_tests(result.matching.shifted)} matched by folder: {shift.describe(head_name)} "
        "(ids relative to another rootdir)."
    )


@dataclass(frozen=True)
class _Section:
    title: str
    changes: list[Change] | None = None
    lines: list[str] | None = None
    total: int = 0


def _sections(
    result: Comparison, head: str, id_text: Callable[[str], str], plain: Callable[[str], str]
) -> list[_Section]:
    grew_over = result.regressions
    grew_within = [change for change in result.grew if not change.over_allowance]
    sections = [
        _Section(f"Grew past the allowed increase ({len(grew_over)})", changes=grew_over),
        _Section(f"Grew within the allowed increase ({len(grew_within)})", changes=grew_within),
        _Section(f"Improved ({len(result.improved)})", changes=result.improved),
        _Section(
            f"New tests, not in the baseline ({len(result.new)})",
            lines=[f"{id_text(e.nodeid)}: {plain(_peak_or_reason(e))}" for e in result.new],
        ),
        _Section(
            f"Gone: in the baseline, not in {head} ({len(result.gone)})",
            lines=[f"{id_text(e.nodeid)}: {plain(_peak_or_reason(e))}" for e in result.gone],
        ),
        _Section(
            f"Not compared, no figure on one side ({len(result.not_compared)})",
            lines=[f"{id_text(u.nodeid)}: {plain(u.reason())}" for u in result.not_compared],
        ),
    ]
    return [
        section
        for section in sections
        if (section.changes if section.changes is not None else section.lines)
    ]


def _more(count: int) -> str:
    return f"... and {count} more"


# -- text --------------------------------------------------------------------------------------


def render_text(
    result: Comparison, max_rows: int = DEFAULT_MAX_ROWS, head_name: str | None = None
) -> str:
    """A plain-text report for a terminal or a CI log."""
    head = head_name or result.head_path
    lines = [
        f"Peak memory per test: {result.base_path} -> {head} ({result.backend} backend)",
        summary(result, head),
        _rules_line(result),
    ]
    shift = _shift_line(result, head)
    if shift:
        lines.append(shift)
    for section in _sections(result, head, lambda nodeid: nodeid, lambda text: text):
        lines += ["", f"{section.title}:"]
        if section.changes is not None:
            lines += _text_table(section.changes[:max_rows])
            rest = len(section.changes) - max_rows
        else:
            assert section.lines is not None
            lines += [f"  {line}" for line in section.lines[:max_rows]]
            rest = len(section.lines) - max_rows
        if rest > 0:
            lines.append(f"  {_more(rest)}")
    if result.compared and not result.grew and not result.improved:
        lines += ["", "No peak changed by more than the noise floor."]
    lines += ["", verdict(result)]
    return "\n".join(lines) + "\n"


def _text_table(changes: Sequence[Change]) -> list[str]:
    rows = [("test", "old", "new", "change", "%")]
    rows += [
        (c.nodeid, format_size(c.old), format_size(c.new), _change_text(c), _percent(c))
        for c in changes
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    out = []
    for row, change in zip(rows, [None, *changes], strict=True):
        cells = [row[0].ljust(widths[0])] + [row[i].rjust(widths[i]) for i in range(1, 5)]
        flag = "  over the allowance" if change is not None and change.over_allowance else ""
        out.append(("  " + "  ".join(cells) + flag).rstrip())
    return out


# -- Markdown ----------------------------------------------------------------------------------


def _md(text: str, in_table: bool = False, limit: int = 300) -> str:
    """``text`` as a Markdown code span (long ids cut in the middle); pipes escaped in a
    table cell."""
    if len(text) > limit:
        text = text[: limit // 2 - 1] + "…" + text[-(limit // 2) :]
    if in_table:
        text = text.replace("|", "\\|")
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _md_text(text: str, limit: int = 500) -> str:
    """Plain ``text`` that is safe inside a Markdown table cell or list item."""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    for char in "\\`*_[]<>|":
        text = text.replace(char, "\\" + char)
    return text.replace("\n", " ")


def _md_table(changes: Sequence[Change]) -> list[str]:
    lines = ["| Test | Base | Head | Change | % |", "| --- | ---: | ---: | ---: | ---: |"]
    for c in changes:
        flag = " **over**" if c.over_allowance else ""
        lines.append(
            f"| {_md(c.nodeid, in_table=True)} | {format_size(c.old)} | {format_size(c.new)} "
            f"| {_change_text(c)}{flag} | {_percent(c)} |"
        )
    return lines


def render_markdown(
    result: Comparison,
    max_rows: int = DEFAULT_MAX_ROWS,
    head_name: str | None = None,
    budget: int = MARKDOWN_BUDGET,
) -> str:
    """GitHub-flavoured Markdown for a pull-request comment or ``$GITHUB_STEP_SUMMARY``.

    Every section is in view (none folded away); each table holds at most ``max_rows`` rows,
    fewer when that is what it takes to stay within ``budget`` characters.
    """
    rows = max(0, max_rows)
    while True:
        text = _markdown(result, rows, head_name)
        if len(text) <= budget or rows == 0:
            return text
        rows //= 2


def _markdown(result: Comparison, max_rows: int, head_name: str | None) -> str:
    head = head_name or result.head_path
    lines = [
        "### Peak memory per test",
        "",
        f"**{_md_text(verdict(result), limit=2000)}**",
        "",
        _md_text(summary(result, head), limit=2000),
        "",
        _md_text(_rules_line(result)),
        "",
    ]
    shift = _shift_line(result, head)
    if shift:
        lines += [_md_text(shift, limit=2000), ""]
    for section in _sections(result, head, _md, _md_text):
        lines += [f"#### {section.title}", ""]
        if section.changes is not None:
            if max_rows:
                lines += _md_table(section.changes[:max_rows])
            rest = len(section.changes) - max_rows
        else:
            assert section.lines is not None
            lines += [f"- {line}" for line in section.lines[:max_rows]]
            rest = len(section.lines) - max_rows
        if rest > 0:
            lines += ["", f"{_more(rest)}"]
        lines.append("")
    if result.compared and not result.grew and not result.improved:
        lines += ["No peak changed by more than the noise floor.", ""]
    return "\n".join(lines)


# -- JSON --------------------------------------------------------------------------------------


def _entry_json(entry: Entry) -> dict[str, Any]:
    return {
        "nodeid": entry.nodeid,
        "peak_bytes": entry.peak_bytes,
        "not_measured": entry.not_measured,
    }


def _change_json(change: Change) -> dict[str, Any]:
    return {
        "nodeid": change.nodeid,
        "base_nodeid": change.base_nodeid or change.nodeid,
        "old_bytes": change.old,
        "new_bytes": change.new,
        "change_bytes": change.delta,
        "change_percent": change.percent,
        "new_allocation": change.old == 0,
        "over_allowance": change.over_allowance,
    }


def render_json(result: Comparison) -> dict[str, Any]:
    """The comparison as a JSON-ready object (no row is left out)."""
    shift = result.matching.shift
    return {
        "base": result.base_path,
        "head": result.head_path,
        "backend": result.backend,
        "status": result.status,
        "problems": list(result.problems),
        "allowance": str(result.allowance),
        "noise_floor": str(result.rules.noise_floor),
        "min_compared": str(result.rules.min_compared),
        "base_tests": result.base_tests,
        "head_measured": result.head_measured,
        "compared": result.compared,
        "grew_past_allowance": len(result.regressions),
        "id_prefix": None
        if shift is None or not result.matching.shifted
        else {"prefix": shift.prefix, "on": "base" if shift.added else "head"},
        "grew": [_change_json(c) for c in result.grew],
        "improved": [_change_json(c) for c in result.improved],
        "within_noise": result.within_noise,
        "unchanged": result.unchanged,
        "new": [_entry_json(e) for e in result.new],
        "gone": [_entry_json(e) for e in result.gone],
        "not_compared": [
            {"nodeid": u.nodeid, "base": u.base, "head": u.head} for u in result.not_compared
        ],
    }
