#!/usr/bin/env bash
# The pull-request comment of action.yml: runs `pytest_memray compare --format markdown` and
# creates, or updates, the one comment of the pull request that starts with the hidden marker
# <!-- $MARKER -->. Outside a pull request (no PR_NUMBER) it only writes the job summary.
#
# Environment: BASE, HEAD (the reports), MAX_INCREASE, FAIL_ON_GROWTH (true/false), PYTHON,
# MARKER, PR_NUMBER, GITHUB_REPOSITORY, GH_TOKEN (for gh), and GitHub's GITHUB_OUTPUT and
# GITHUB_STEP_SUMMARY (files; optional). Exit status: compare's 2 on bad input; 1 when a test
# grew and FAIL_ON_GROWTH is true; else 0.
set -euo pipefail

: "${BASE:?BASE: the base report}" "${HEAD:?HEAD: the head report}"
MAX_INCREASE="${MAX_INCREASE:-10% + 1 MB}"
FAIL_ON_GROWTH="${FAIL_ON_GROWTH:-true}"
PYTHON="${PYTHON:-python}"
MARKER="${MARKER:-pytest-memray-compare}"
if ! [[ "$MARKER" =~ ^[A-Za-z0-9._-]+$ ]]; then
    echo "::error::marker '$MARKER' may hold letters, digits, '.', '_' and '-' only" >&2
    exit 2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

status=0
"$PYTHON" -m pytest_memray compare "$BASE" "$HEAD" --max-increase="$MAX_INCREASE" \
    --format markdown >"$work/table.md" 2>"$work/error.txt" || status=$?
if [ "$status" -ge 2 ]; then
    echo "::error::pytest-memray compare could not compare the reports: $(cat "$work/error.txt")" >&2
    exit "$status"
fi

# The marker first (the comment is found by it), then the table, cut to fit GitHub's limit of
# 65,536 characters for a comment.
"$PYTHON" - "$work/table.md" "$work/body.md" "$MARKER" <<'PY'
import sys

source, target, marker = sys.argv[1:4]
table = open(source, encoding="utf-8").read()
head = f"<!-- {marker} -->\n"
limit = 65536 - len(head) - 200
if len(table) > limit:
    cut = table.rfind("\n", 0, limit)
    table = table[: cut if cut > 0 else limit] + (
        "\n\n*The table was cut to fit a comment; the job's log has all of it.*\n"
    )
open(target, "w", encoding="utf-8").write(head + table)
PY

cat "$work/table.md"
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    cat "$work/table.md" >>"$GITHUB_STEP_SUMMARY"
fi

url=""
if [ -n "${PR_NUMBER:-}" ]; then
    : "${GITHUB_REPOSITORY:?GITHUB_REPOSITORY: owner/name}"
    existing="$(gh api --paginate "repos/$GITHUB_REPOSITORY/issues/$PR_NUMBER/comments" \
        --jq ".[] | select(.body | startswith(\"<!-- $MARKER -->\")) | .id" | head -n 1)"
    if [ -n "$existing" ]; then
        url="$(gh api --method PATCH "repos/$GITHUB_REPOSITORY/issues/comments/$existing" \
            -F "body=@$work/body.md" --jq .html_url)"
        echo "Updated the comment $url"
    else
        url="$(gh api --method POST "repos/$GITHUB_REPOSITORY/issues/$PR_NUMBER/comments" \
            -F "body=@$work/body.md" --jq .html_url)"
        echo "Posted the comment $url"
    fi
else
    echo "Not a pull request: no comment, the table is in the job summary."
fi

if [ -n "${GITHUB_OUTPUT:-}" ]; then
    {
        echo "status=$status"
        echo "comment-url=$url"
    } >>"$GITHUB_OUTPUT"
fi
if [ "$status" -eq 1 ] && [ "$FAIL_ON_GROWTH" = "true" ]; then
    echo "::error::a test's peak memory grew past the allowed increase of $MAX_INCREASE" >&2
    exit 1
fi
exit 0
