"""tools/ci/gate_demo.sh, the CI step that runs the gate on the demo suite: it holds (unchanged
0 with no changed row, a test grown by 5 MiB 1 naming it, another suite's baseline 2), and
shellcheck finds nothing in it where shellcheck is installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .gates.browser import REQUIRE_TOOLS
from .helpers import requires_subprocess

SCRIPT = Path(__file__).resolve().parent.parent / "tools" / "ci" / "gate_demo.sh"

posix_shell = pytest.mark.skipif(
    sys.platform in ("win32", "emscripten", "wasi") or shutil.which("bash") is None,
    reason="runs a bash script",
)


@requires_subprocess
@posix_shell
def test_the_gate_demo_holds_on_tracemalloc(tmp_path: Path) -> None:
    environment = {
        **os.environ,
        "PYTHON": sys.executable,
        "TMPDIR": str(tmp_path),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }
    done = subprocess.run(
        ["bash", str(SCRIPT), "tracemalloc"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "gate_demo: every check held (tracemalloc)" in done.stdout
    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "| `test_demo.py::test_holds_ten_mebibytes` | 10.0MiB | 15.0MiB |" in summary
    assert list(tmp_path.iterdir()) == [tmp_path / "summary.md"]  # its folder is removed


@posix_shell
@pytest.mark.skipif(
    shutil.which("shellcheck") is None and not REQUIRE_TOOLS,
    reason="shellcheck is not installed (apt-get install -y shellcheck)",
)
def test_shellcheck() -> None:
    subprocess.run(["shellcheck", str(SCRIPT)], check=True)
