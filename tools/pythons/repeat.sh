#!/usr/bin/env bash
# Run a command N times in a row, each run on its own; stop at the first that fails.
#
#   bash tools/pythons/repeat.sh N CMD [ARG...]
#
# Prints one line per run (its number, seconds and the last line of its output); the whole
# output of a failing run is shown. Exit status: 0 when all N runs passed, else the failing
# run's status.
set -uo pipefail
runs="$1"
shift
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for ((run = 1; run <= runs; run++)); do
    start=$SECONDS
    "$@" >"$log" 2>&1
    status=$?
    if [ "$status" != 0 ]; then
        cat "$log"
        echo "run $run of $runs FAILED (exit $status) after $((SECONDS - start)) s"
        exit "$status"
    fi
    echo "run $run of $runs passed in $((SECONDS - start)) s: $(tail -n 1 "$log")"
done
echo "all $runs runs passed"
