"""Saving the run (``--memray-save``) and writing the HTML report (``--memray-html``) at the
end of the session, on the process that reports.

The saved file is the run's ``--memray-json`` document, in the storage folder's folder for
this platform, Python and backend (:mod:`pytest_memray.gates.storage`). The HTML report shows
the run, the baseline the gate judged it against (``--memray-baseline`` or
``--memray-compare``), and the trend over the runs saved for this machine kind (this run
included, saved or not). A file that cannot be written is one error line and exit status 1,
as for ``--memray-json``. An interrupted session (Ctrl-C) is not saved: its half run would
become the latest saved run that ``--memray-compare`` judges against.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from pytest_memray.backends.registry import BackendChoice
from pytest_memray.files import write_text
from pytest_memray.gates.allowance import DEFAULT_ALLOWANCE, Allowance
from pytest_memray.gates.documents import DocumentError, load_document, parse_document
from pytest_memray.gates.format import document_text
from pytest_memray.gates.history import Run, build_history, load_runs
from pytest_memray.gates.html import render_html, report_data
from pytest_memray.gates.storage import (
    StorageError,
    find_run,
    git_state,
    list_runs,
    machine_key,
    resolve_storage,
    save_run,
)
from pytest_memray.reporting.collector import ResultCollector
from pytest_memray.reporting.json_output import report_document

#: How many saved runs the HTML report's trend shows.
TREND_RUNS = 20


def machine_folder(rootdir: Path, storage: str | None, backend: str) -> Path:
    """The folder of saved runs for this platform, Python and ``backend``."""
    key = machine_key(
        sys.platform, platform.python_implementation(), platform.python_version(), backend
    )
    return resolve_storage(rootdir, storage) / key


def compared_run(rootdir: Path, storage: str | None, backend: str, which: str) -> Path:
    """The saved run ``--memray-compare=which`` names; ``pytest.UsageError`` when none does."""
    folder = machine_folder(rootdir, storage, backend)
    try:
        return find_run(folder, which or "latest").path
    except StorageError as exc:
        raise pytest.UsageError(f"--memray-compare: {exc}") from None


class SavedRunOutputs:
    """Saves the run and writes the HTML report when the session ends."""

    def __init__(
        self,
        *,
        choice: BackendChoice,
        collector: ResultCollector,
        rootdir: Path,
        storage: str | None,
        save_name: str | None,
        keep: int | None,
        html_path: Path | None,
        baseline: str | None,
        allowance: Allowance | None,
    ) -> None:
        self.choice = choice
        self.collector = collector
        self.rootdir = rootdir
        self.folder = machine_folder(rootdir, storage, choice.backend.name)
        #: None: do not save; "": save without a name.
        self.save_name = save_name
        self.keep = keep
        self.html_path = html_path
        self.baseline = baseline
        self.allowance = allowance
        self._lines: list[str] = []

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None, None, None]:
        yield
        document = report_document(self.choice, self.collector.final(), str(self.rootdir))
        text = document_text(document)
        saved: Path | None = None
        try:
            # Ctrl-C, not the exit status: the baseline gate gives status 2 (pytest's number for
            # "interrupted") to a complete run it could not judge.
            if self.save_name is not None and self.collector.interrupted:
                # A half run saved as the latest would make --memray-compare judge against it.
                self._lines.append("memray: this run was not saved: the session was interrupted")
            elif self.save_name is not None:
                commit, dirty = git_state(self.rootdir)
                run, removed = save_run(
                    self.folder,
                    text,
                    name=self.save_name or None,
                    commit=commit,
                    dirty=dirty,
                    keep=self.keep,
                )
                saved = run.path
                self._lines.append(f"memray: saved this run as {self._shown(run.path)}")
                if removed:
                    self._lines.append(
                        f"memray: removed {len(removed)} older saved run(s) "
                        f"(--memray-save-keep {self.keep})"
                    )
            if self.html_path is not None:
                self._write_html(document, saved)
                self._lines.append(f"memray: HTML report written to {self.html_path}")
        except (StorageError, DocumentError, OSError) as exc:
            detail = exc.strerror or str(exc) if isinstance(exc, OSError) else str(exc)
            sys.stderr.write(f"ERROR: pytest-memray: {detail}\n")
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _shown(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.rootdir))
        except ValueError:
            return str(path)

    def _write_html(self, document: dict[str, Any], saved: Path | None) -> None:
        assert self.html_path is not None
        name = str(saved) if saved is not None else "this run"
        current = parse_document(name, document)
        baseline = None if self.baseline is None else load_document(self.baseline)
        history = None
        if list_runs(self.folder):
            runs = load_runs([self.folder])
            if saved is None:
                runs.append(Run("this run", current))
            runs = runs[-TREND_RUNS:]
            history = build_history(runs, self.allowance or DEFAULT_ALLOWANCE)
        data = report_data(current, baseline=baseline, allowance=self.allowance, history=history)
        try:
            write_text(self.html_path, render_html(data))
        except OSError as exc:
            raise OSError(
                exc.errno, f"could not write {self.html_path}: {exc.strerror or exc}"
            ) from None

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for line in self._lines:
            terminalreporter.write_line(line)
