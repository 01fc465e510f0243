"""The baseline gate: each test's peak against the one an earlier ``--memray-json`` recorded.

``load_baseline`` reads the file given to ``--memray-baseline`` and refuses, with a
``BaselineError`` naming the path, a file that is missing, unreadable or malformed, one from
another schema version, and one measured by another backend (naming both: their peaks are not
comparable). ``Baseline.check`` judges one test; ``Baseline.listing`` gathers what the end of
the session lists: new tests, baseline tests that did not run, and tests without a figure to
compare on either side.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pytest_memray.gates import DEFAULT_MAX_INCREASE
from pytest_memray.gates.allowance import (
    DEFAULT_ALLOWANCE,
    Allowance,
    parse_allowance,
)
from pytest_memray.gates.documents import Document, DocumentError, PathLike, load_document
from pytest_memray.sizes import format_size

SECTION = "memray-max-memory"
OPTION = "--memray-baseline"
ALLOWANCE_OPTION = "--memray-max-increase / memray_max_increase"


class BaselineError(DocumentError):
    """A baseline that cannot be used; the plugin turns it into a usage error."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)
        self.args = (f"{OPTION} {path}: {reason}",)


@dataclass(frozen=True)
class GateFailure:
    """A test whose peak grew past the allowance over its baseline.

    ``summary`` is the failure's one line; ``section`` and ``details`` make the report
    section, the same three fields as ``markers.Failure``.
    """

    nodeid: str
    baseline_bytes: int
    peak_bytes: int
    allowance: Allowance
    summary: str
    section: str
    details: str


@dataclass(frozen=True)
class GateListing:
    """What the end of a gated session lists besides the failures."""

    new: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    not_measured: list[tuple[str, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Terminal lines for the listing; none when there is nothing to list."""
        lines = []
        if self.new:
            lines.append(f"Tests not in the baseline, not gated ({len(self.new)}):")
            lines += [f"  {nodeid}" for nodeid in self.new]
        if self.missing:
            lines.append(f"Baseline tests that did not run ({len(self.missing)}):")
            lines += [f"  {nodeid}" for nodeid in self.missing]
        if self.not_measured:
            lines.append(f"Tests not gated, no figure to compare ({len(self.not_measured)}):")
            lines += [f"  {nodeid}: {reason}" for nodeid, reason in self.not_measured]
        return lines


class Baseline:
    """The peaks of a baseline document and the allowance they are judged with."""

    def __init__(self, document: Document, allowance: Allowance = DEFAULT_ALLOWANCE) -> None:
        self.document = document
        self.allowance = allowance

    @property
    def path(self) -> str:
        return self.document.path

    @property
    def backend(self) -> str:
        return self.document.backend

    def peak_of(self, nodeid: str) -> int | None:
        """The baseline peak ``nodeid`` is judged against; None when the baseline lacks the
        test, did not measure it, or the test did not pass there."""
        entry = self.document.entries.get(nodeid)
        return None if entry is None else entry.reference_peak

    def not_measured_reason(self, nodeid: str) -> str | None:
        """Why ``peak_of`` is None for a test the baseline lists; None otherwise."""
        entry = self.document.entries.get(nodeid)
        return None if entry is None else entry.no_reference

    def check(self, nodeid: str, peak: int | None) -> GateFailure | None:
        """The failure when ``peak`` grew past the allowance; None otherwise.

        None also when there is nothing to compare (a new test, or no figure on either side):
        ``listing`` reports those.
        """
        old = self.peak_of(nodeid)
        if old is None or peak is None or self.allowance.permits(old, peak):
            return None
        growth = peak - old
        percent = f" (+{growth / old:.1%})" if old else ""
        summary = (
            f"Test peak memory grew from {format_size(old)} in the baseline to "
            f"{format_size(peak)}{percent}, more than the allowed increase of {self.allowance}"
        )
        details = "\n".join(
            [
                f"Baseline: {self.path} ({self.backend} backend)",
                f"Baseline peak: {format_size(old)} ({old} bytes)",
                f"New peak: {format_size(peak)} ({peak} bytes)",
                f"Growth: {format_size(growth)} ({growth} bytes)",
                f"Allowed increase: {self.allowance} (--memray-max-increase),"
                f" up to {int(self.allowance.ceiling(old))} bytes",
            ]
        )
        return GateFailure(
            nodeid=nodeid,
            baseline_bytes=old,
            peak_bytes=peak,
            allowance=self.allowance,
            summary=summary,
            section=SECTION,
            details=details,
        )

    def new_tests(self, seen: Iterable[str]) -> list[str]:
        """The tests of ``seen`` that the baseline does not list, in ``seen``'s order."""
        return [nodeid for nodeid in dict.fromkeys(seen) if nodeid not in self.document.entries]

    def missing_tests(self, seen: Iterable[str]) -> list[str]:
        """The baseline's tests that are not in ``seen``, in the baseline's order."""
        ran = set(seen)
        return [nodeid for nodeid in self.document.entries if nodeid not in ran]

    def listing(
        self, peaks: Mapping[str, int | None], reasons: Mapping[str, str] | None = None
    ) -> GateListing:
        """Everything ``check`` could not judge, for the session's end.

        ``peaks`` maps every test that ran to its peak, or None when this run has no figure;
        ``reasons`` says why for those (missing reasons read "not measured in this run").
        """
        reasons = reasons or {}
        not_measured = []
        for nodeid, peak in peaks.items():
            entry = self.document.entries.get(nodeid)
            if entry is None:
                continue
            why = []
            if entry.no_reference is not None:
                why.append(f"baseline: {entry.no_reference}")
            if peak is None:
                why.append(f"this run: {reasons.get(nodeid, 'not measured')}")
            if why:
                not_measured.append((nodeid, "; ".join(why)))
        return GateListing(
            new=self.new_tests(peaks), missing=self.missing_tests(peaks), not_measured=not_measured
        )


def load_baseline(
    path: PathLike, backend: str, allowance: Allowance = DEFAULT_ALLOWANCE
) -> Baseline:
    """Read the baseline at ``path`` for a run measured by the ``backend`` backend.

    Raises:
        BaselineError: naming the path for a missing, unreadable or malformed file, both
            versions for another schema version, both backends for another backend.
    """
    try:
        document = load_document(path)
    except DocumentError as exc:
        raise BaselineError(exc.path, exc.reason) from None
    if document.backend != backend:
        raise BaselineError(
            document.path,
            f"measured with the {document.backend} backend, but this run uses {backend}: "
            f"peaks from different backends are not comparable; make the baseline with "
            f"--memray-backend={backend}, or run this one with --memray-backend="
            f"{document.backend}",
        )
    return Baseline(document, allowance)


def baseline_from_options(
    path: PathLike | None, max_increase: str | None, backend: str
) -> Baseline | None:
    """The gate for the option values as given; None when no baseline was given.

    ``max_increase`` None (or empty) means the default, ``DEFAULT_MAX_INCREASE``. It is
    checked even without a baseline, so that a typo does not wait for the day one is given.

    Raises:
        BaselineError: for a bad baseline, as ``load_baseline`` does.
        ValueError: naming the option and the value for a bad ``max_increase``.
    """
    try:
        allowance = parse_allowance(max_increase or DEFAULT_MAX_INCREASE)
    except ValueError as exc:
        raise ValueError(f"{ALLOWANCE_OPTION}: {exc}") from None
    if path is None or path == "":
        return None
    return load_baseline(path, backend, allowance)
