"""Saved runs: file names, counters, finding a run, retention, git state."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_memray.gates.storage import (
    StorageError,
    check_name,
    find_run,
    git_state,
    list_runs,
    machine_folders,
    machine_key,
    parse_file_name,
    resolve_storage,
    save_run,
)


def test_machine_key_names_platform_python_and_backend() -> None:
    assert machine_key("linux", "CPython", "3.11.7", "memray") == "linux-CPython-3.11-memray"
    assert machine_key("win32", "PyPy", "3.10", "my/backend") == "win32-PyPy-3.10-my-backend"


def test_saved_file_names_carry_counter_commit_date_and_name(tmp_path: Path) -> None:
    first, _ = save_run(tmp_path, "{}", commit="1a2b3c4d5e6f", date="20250314T091500Z")
    second, _ = save_run(
        tmp_path, "{}", name="big-cache", commit="1a2b3c4d5e6f", dirty=True, date="20250314T093012Z"
    )
    third, _ = save_run(tmp_path, "{}", date="20250315T000000Z")
    assert first.path.name == "0001_1a2b3c4d5e6f_20250314T091500Z.json"
    assert second.path.name == "0002_1a2b3c4d5e6f-dirty_20250314T093012Z_big-cache.json"
    assert third.path.name == "0003_nogit_20250315T000000Z.json"
    assert (second.number, second.commit, second.dirty, second.name) == (
        2,
        "1a2b3c4d5e6f",
        True,
        "big-cache",
    )
    assert second.label == "#2 1a2b3c4+ big-cache"
    assert third.label == "#3"
    assert third.commit is None
    assert second.iso_date == "2025-03-14 09:30:12 UTC"
    assert [run.number for run in list_runs(tmp_path)] == [1, 2, 3]


def test_other_files_are_not_runs(tmp_path: Path) -> None:
    (tmp_path / "notes.json").write_text("{}")
    (tmp_path / "0001_nogit_2025.json").write_text("{}")
    assert list_runs(tmp_path) == []
    assert list_runs(tmp_path / "missing") == []
    assert parse_file_name(Path("0012_abcdef1_20250101T000000Z_x.json")) is not None


def test_the_counter_follows_the_highest_one(tmp_path: Path) -> None:
    (tmp_path / "0041_nogit_20250101T000000Z.json").write_text("{}")
    saved, _ = save_run(tmp_path, "{}")
    assert saved.number == 42


def test_find_run_by_latest_counter_name_and_file(tmp_path: Path) -> None:
    for name in (None, "before", None, "before"):
        save_run(tmp_path, "{}", name=name, commit="abcdef123456")
    runs = list_runs(tmp_path)
    assert find_run(tmp_path, "latest") == runs[-1]
    assert find_run(tmp_path, "") == runs[-1]
    assert find_run(tmp_path, "2") == runs[1]
    assert find_run(tmp_path, "0003") == runs[2]
    assert find_run(tmp_path, "before") == runs[3]  # the newest of that name
    assert find_run(tmp_path, runs[0].path.name) == runs[0]
    assert find_run(tmp_path, runs[0].path.stem) == runs[0]


def test_find_run_says_what_is_there(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="no saved run in"):
        find_run(tmp_path, "latest")
    save_run(tmp_path, "{}", commit="abcdef123456")
    with pytest.raises(StorageError, match=r"no saved run '9'.*1 saved; the newest: 0001_"):
        find_run(tmp_path, "9")


def test_retention_keeps_the_newest(tmp_path: Path) -> None:
    for _ in range(4):
        save_run(tmp_path, "{}")
    saved, removed = save_run(tmp_path, "{}", keep=2)
    assert [path.name[:4] for path in removed] == ["0001", "0002", "0003"]
    assert [run.number for run in list_runs(tmp_path)] == [4, 5]
    assert saved.number == 5
    with pytest.raises(StorageError, match="keep must be at least 1"):
        save_run(tmp_path, "{}", keep=0)


@pytest.mark.parametrize("name", ["", "a b", "../up", ".hidden", "latest", "12", "x/y"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(StorageError, match="cannot name a saved run"):
        check_name(name)


def test_a_folder_that_cannot_be_made_is_one_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StorageError, match="cannot be made"):
        save_run(blocker / "kind", "{}")


def test_machine_folders_and_storage_path(tmp_path: Path) -> None:
    save_run(tmp_path / "b-kind", "{}")
    save_run(tmp_path / "a-kind", "{}")
    (tmp_path / "empty").mkdir()
    assert [p.name for p in machine_folders(tmp_path)] == ["a-kind", "b-kind"]
    assert resolve_storage(tmp_path, None) == tmp_path / ".memray"
    assert resolve_storage(tmp_path, "runs/mem") == tmp_path / "runs/mem"
    assert resolve_storage(tmp_path, str(tmp_path / "abs")) == tmp_path / "abs"


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_state(tmp_path: Path) -> None:
    assert git_state(tmp_path) == (None, False)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "f").write_text("1")
    subprocess.run([*git, "add", "f"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "c"], cwd=tmp_path, check=True)
    commit, dirty = git_state(tmp_path)
    assert commit is not None
    assert len(commit) == 12
    assert not dirty
    (tmp_path / "f").write_text("2")
    assert git_state(tmp_path) == (commit, True)
