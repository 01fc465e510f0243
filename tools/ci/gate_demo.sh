#!/usr/bin/env bash
# The memory gate, tried on the project's demo suite as CI would use it, on each backend.
#
#   tools/ci/gate_demo.sh [BACKEND ...]     (default: tracemalloc, and memray where it runs)
#
# For each backend: a baseline run of demo/ with --memray-json, then
#   1. the same suite again, gated on it:        exit 0, and no changed row (pytest and compare)
#   2. a copy where one test allocates 5 MiB more, run from another folder (another rootdir):
#                                                 exit 1, naming that test (pytest and compare)
#   3. the demo gated on a baseline of another suite:
#                                                 exit 2, saying why (pytest and compare)
# Run it from any folder with the project installed (python on PATH, or PYTHON=...). It exits
# non-zero at the first check that does not hold, saying which.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
python=${PYTHON:-python}
work=$(mktemp -d "${TMPDIR:-/tmp}/gate-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT

fail() { printf 'gate_demo: FAILED: %s\n' "$*" >&2; exit 1; }
step() { printf '\n--- gate_demo [%s]: %s\n' "$backend" "$*"; }

# Runs a command, keeps its output in $work/last.out, and checks its exit status.
expect_status() {
    local want=$1
    shift
    local got=0
    "$@" >"$work/last.out" 2>&1 || got=$?
    cat "$work/last.out"
    [ "$got" -eq "$want" ] || fail "expected exit status $want, got $got: $*"
}

expect_text() {
    grep -qF -- "$1" "$work/last.out" || fail "the output does not say: $1"
}

# How many rows compare's JSON lists as grown or improved.
changed_rows() {
    "$python" -c 'import json, sys; d = json.load(open(sys.argv[1])); print(len(d["grew"]) + len(d["improved"]))' "$1"
}

if [ "$#" -gt 0 ]; then
    backends=("$@")
else
    backends=(tracemalloc)
    if "$python" -c 'import sys; from pytest_memray.backends.builtin import memray_unavailable_reason as why; sys.exit(why() is not None)'; then
        backends+=(memray)
    fi
fi

for backend in "${backends[@]}"; do
    dir="$work/$backend"
    mkdir -p "$dir"
    pytest=("$python" -m pytest -p no:cacheprovider -p no:randomly --memray-backend="$backend")
    gate=("$python" -m pytest_memray)

    step "baseline of demo/"
    (cd "$repo" && expect_status 0 "${pytest[@]}" demo --memray --hide-memray-summary \
        --memray-json="$dir/base.json")

    step "1. unchanged suite: exit 0, no changed row"
    (cd "$repo" && expect_status 0 "${pytest[@]}" demo --memray-baseline="$dir/base.json" \
        --memray-json="$dir/head.json")
    expect_text "Compared 6 of the 6 tests measured in this run"
    expect_text "No peak changed by more than the noise floor."
    expect_status 0 "${gate[@]}" compare "$dir/base.json" "$dir/head.json" --format json
    cp "$work/last.out" "$dir/unchanged.json"
    [ "$(changed_rows "$dir/unchanged.json")" -eq 0 ] || fail "an unchanged suite listed changed rows"

    step "2. one test allocates 5 MiB more, run from another folder: exit 1 naming it"
    mkdir -p "$dir/grown"
    cp -r "$repo/demo" "$dir/grown/demo"
    sed -i.orig -e 's/bytearray(10 \* MIB)$/bytearray(15 * MIB)/' \
        -e 's/assert len(data) == 10 \* MIB/assert len(data) == 15 * MIB/' \
        "$dir/grown/demo/test_demo.py"
    grep -q 'bytearray(15 \* MIB)' "$dir/grown/demo/test_demo.py" || fail "the demo copy was not changed"
    (cd "$dir/grown/demo" && expect_status 1 "${pytest[@]}" --memray-baseline=../../base.json \
        --memray-json="$dir/grown.json" test_demo.py)
    expect_text "MEMORY PROBLEMS test_demo.py::test_holds_ten_mebibytes"
    expect_text "1 test grew past the allowed increase of 10% + 1.0MiB."
    expect_status 1 "${gate[@]}" compare "$dir/base.json" "$dir/grown.json" --format markdown
    # shellcheck disable=SC2016  # the backquotes are Markdown's, not the shell's
    expect_text '| `test_demo.py::test_holds_ten_mebibytes` | 10.0MiB | 15.0MiB | +5.0MiB **over** |'
    if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
        cat "$work/last.out" >>"$GITHUB_STEP_SUMMARY"
    fi

    step "3. a baseline of another suite: exit 2 saying why"
    mkdir -p "$dir/other"
    printf 'def test_elsewhere():\n    data = bytearray(1000)\n' >"$dir/other/test_other.py"
    (cd "$dir/other" && expect_status 0 "${pytest[@]}" --memray --hide-memray-summary \
        --memray-json="$dir/other.json" test_other.py)
    (cd "$repo" && expect_status 2 "${pytest[@]}" demo --memray-baseline="$dir/other.json")
    expect_text "ERROR: pytest-memray: Could not judge: compared no test"
    expect_status 2 "${gate[@]}" compare "$dir/other.json" "$dir/head.json"
    expect_text "error: could not judge: compared no test"
done

printf '\ngate_demo: every check held (%s)\n' "${backends[*]}"
