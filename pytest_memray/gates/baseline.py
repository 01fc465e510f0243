"""The baseline gate: each test's peak against the one an earlier ``--memray-json`` recorded.

``load_baseline`` reads the file given to ``--memray-baseline`` and refuses, with a
``BaselineError`` naming the path, a file that is missing, unreadable or malformed, one of a
layout version this version does not read, and one measured by another backend (naming both:
their peaks are not comparable). A merged baseline that lacks a shard is read, but the gate
cannot judge with it: :meth:`Baseline.comparison` says so at the end of the session.

Test ids are paired with the baseline's through :mod:`.matching` once the session's tests are
known (:meth:`Baseline.match`), so that a run started from another folder (another rootdir)
is judged all the same. ``Baseline.check`` judges one test; ``Baseline.comparison`` makes the
end of session's verdict and tables, the same as ``compare`` prints.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pytest_memray.gates import DEFAULT_MAX_INCREASE, DEFAULT_NOISE_FLOOR
from pytest_memray.gates.allowance import Allowance, allowance_or_default
from pytest_memray.gates.compare import Comparison, Rules, compare_documents, parse_min_compared
from pytest_memray.gates.documents import (
    Document,
    DocumentError,
    PathLike,
    RunEntry,
    load_document,
    run_document,
)
from pytest_memray.gates.matching import Matching, match_ids
from pytest_memray.sizes import format_size

SECTION = "memray-max-memory"
OPTION = "--memray-baseline"
ALLOWANCE_OPTION = "--memray-max-increase / memray_max_increase"
FLOOR_OPTION = "--memray-noise-floor / memray_noise_floor"
MIN_OPTION = "--memray-min-compared / memray_min_compared"
#: How the run is named in the gate's messages.
THIS_RUN = "this run"


class BaselineError(DocumentError):
    """A baseline that cannot be used; the plugin turns it into a usage error."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)
        self.args = (f"{OPTION} {path}: {self.reason}",)


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


class Baseline:
    """The peaks of a baseline document and the rules they are judged with."""

    def __init__(self, document: Document, rules: Rules | None = None) -> None:
        self.document = document
        self.rules = rules or Rules()
        self.matching = Matching()
        self._matched = False

    @property
    def path(self) -> str:
        return self.document.path

    @property
    def backend(self) -> str:
        return self.document.backend

    @property
    def allowance(self) -> Allowance:
        return self.rules.allowance

    def match(self, run_ids: Iterable[str]) -> Matching:
        """Pair the session's test ids with the baseline's (see :mod:`.matching`)."""
        self.matching = match_ids(self.document.entries, run_ids)
        self._matched = True
        return self.matching

    def base_id(self, nodeid: str) -> str | None:
        """The baseline's id for the test ``nodeid`` of this run; None for a new test."""
        if not self._matched:
            return nodeid if nodeid in self.document.entries else None
        return self.matching.base_of(nodeid)

    def peak_of(self, nodeid: str) -> int | None:
        """The baseline peak ``nodeid`` is judged against; None when the baseline lacks the
        test, did not measure it, or the test did not pass there."""
        base_id = self.base_id(nodeid)
        entry = None if base_id is None else self.document.entries.get(base_id)
        return None if entry is None else entry.reference_peak

    def check(self, nodeid: str, peak: int | None) -> GateFailure | None:
        """The failure when ``peak`` grew past the allowance; None otherwise.

        None also when there is nothing to compare (a new test, or no figure on either side):
        the end of the session lists those.
        """
        old = self.peak_of(nodeid)
        if old is None or peak is None or self.allowance.permits(old, peak):
            return None
        growth = peak - old
        percent = f" (+{growth / old:.1%})" if old else " (new allocation)"
        summary = (
            f"Test peak memory grew from {format_size(old)} in the baseline to "
            f"{format_size(peak)}{percent}, more than the allowed increase of {self.allowance}"
        )
        base_id = self.base_id(nodeid)
        lines = [f"Baseline: {self.path} ({self.backend} backend)"]
        if base_id != nodeid:
            lines.append(f"Baseline test id: {base_id}")
        lines += [
            f"Baseline peak: {format_size(old)} ({old} bytes)",
            f"New peak: {format_size(peak)} ({peak} bytes)",
            f"Growth: {format_size(growth)} ({growth} bytes)",
            f"Allowed increase: {self.allowance} (--memray-max-increase),"
            f" up to {int(self.allowance.ceiling(old))} bytes",
        ]
        return GateFailure(
            nodeid=nodeid,
            baseline_bytes=old,
            peak_bytes=peak,
            allowance=self.allowance,
            summary=summary,
            section=SECTION,
            details="\n".join(lines),
        )

    def comparison(
        self,
        entries: Sequence[RunEntry],
        rootdir: str | None,
        pairs: dict[str, str] | None = None,
    ) -> Comparison:
        """The end of session's verdict: the baseline against the session's results.

        ``pairs`` (run id -> baseline id) are the pairs the processes that ran the tests
        used, when they are known; otherwise the ids are matched here.
        """
        run = run_document(self.backend, entries, rootdir, THIS_RUN)
        matching = self.matching if self._matched else None
        if pairs is not None:
            shifted = sum(1 for run_id, base_id in pairs.items() if run_id != base_id)
            shift = (matching or match_ids(self.document.entries, pairs)).shift
            matching = Matching(dict(pairs), shift if shifted else None, shifted)
        return compare_documents(self.document, run, self.rules, matching, head_name=THIS_RUN)


def load_baseline(path: PathLike, backend: str, rules: Rules | None = None) -> Baseline:
    """Read the baseline at ``path`` for a run measured by the ``backend`` backend.

    Raises:
        BaselineError: naming the path for a missing, unreadable or malformed file, the
            versions read for another layout version, both backends for another backend.
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
    return Baseline(document, rules)


def rules_from_options(
    max_increase: str | None,
    noise_floor: str | None = None,
    min_compared: str | None = None,
    fail_gone: bool = False,
) -> Rules:
    """The gate's rules for the option values as given (None or empty: the default).

    Raises:
        ValueError: naming the option and the value for a bad one.
    """
    try:
        allowance = allowance_or_default(max_increase, DEFAULT_MAX_INCREASE)
    except ValueError as exc:
        raise ValueError(f"{ALLOWANCE_OPTION}: {exc}") from None
    try:
        floor = allowance_or_default(noise_floor, DEFAULT_NOISE_FLOOR, "noise floor")
    except ValueError as exc:
        raise ValueError(f"{FLOOR_OPTION}: {exc}") from None
    try:
        minimum = parse_min_compared(min_compared)
    except ValueError as exc:
        raise ValueError(f"{MIN_OPTION}: {exc}") from None
    return Rules(allowance, floor, minimum, fail_gone)


def baseline_from_options(
    path: PathLike | None,
    max_increase: str | None,
    backend: str,
    noise_floor: str | None = None,
    min_compared: str | None = None,
    fail_gone: bool = False,
) -> Baseline | None:
    """The gate for the option values as given; None when no baseline was given.

    The other values are checked even without a baseline, so that a typo does not wait for
    the day one is given.

    Raises:
        BaselineError: for a bad baseline, as ``load_baseline`` does.
        ValueError: naming the option and the value for a bad rule.
    """
    rules = rules_from_options(max_increase, noise_floor, min_compared, fail_gone)
    if path is None or path == "":
        return None
    return load_baseline(path, backend, rules)
