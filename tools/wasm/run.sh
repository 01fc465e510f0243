#!/usr/bin/env bash
# Run pytest with the pytest-memray plugin inside Pyodide (CPython on WebAssembly) under Node.js.
#
#   bash tools/wasm/run.sh [pytest args...]   # e.g. bash tools/wasm/run.sh tests -q
#   bash tools/wasm/run.sh --demo             # fixed check of the plugin on demo/
#
# Needs node (>= 18) with npm, and python3 with pip. Network is used only here, to install the
# pinned npm package and download pinned wheels from PyPI (both cached under tools/wasm/.cache
# and tools/wasm/node_modules); the tests themselves run offline.
# Paths given to pytest are relative to the directory you call this from (inside the repo),
# or absolute host paths inside the repo.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="$here/.cache"
caller_cwd="$PWD"
python="${PYTHON:-python3}"

log() { printf '[wasm] %s\n' "$*" >&2; }

# --- 1. the Pyodide runtime (npm) -------------------------------------------------------------
export WASM_RUNNER_DIR="$here"
pinned="$(node -p "require(process.env.WASM_RUNNER_DIR + '/package-lock.json').packages['node_modules/pyodide'].version")"
installed="$(node -p "try { require(process.env.WASM_RUNNER_DIR + '/node_modules/pyodide/package.json').version } catch { '' }")"
if [[ "$installed" != "$pinned" ]]; then
  log "installing pyodide $pinned with npm ci"
  (cd "$here" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error) >&2
fi
py_version="$(node -p "require(process.env.WASM_RUNNER_DIR + '/node_modules/pyodide/pyodide-lock.json').info.python.split('.').slice(0, 2).join('.')")"

# --- 2. dependency wheels (pip, pure Python only) ---------------------------------------------
req="$here/requirements.txt"
deps_key="$("$python" - "$req" "$py_version" <<'EOF'
import hashlib, sys
h = hashlib.sha256(open(sys.argv[1], "rb").read())
h.update(sys.argv[2].encode())
print(h.hexdigest()[:16])
EOF
)"
deps_dir="$cache/deps-py$py_version-$deps_key"
if [[ ! -f "$deps_dir/.complete" ]]; then
  log "downloading wheels for Python $py_version into ${deps_dir#"$repo"/}"
  tmp="$deps_dir.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  dl_log="$cache/deps-download.log"
  if ! "$python" -m pip download --disable-pip-version-check \
      --only-binary=:all: --platform any --implementation py --python-version "$py_version" \
      --no-deps --dest "$tmp" --requirement "$req" >"$dl_log" 2>&1; then
    cat "$dl_log" >&2
    log "downloading the wheels failed"
    exit 100
  fi
  touch "$tmp/.complete"
  rm -rf "$deps_dir"
  mv "$tmp" "$deps_dir"
fi

# --- 3. the project's own wheel, rebuilt when its sources change ------------------------------
src_key="$(cd "$repo" && "$python" - <<'EOF'
import hashlib, os
h = hashlib.sha256()
paths = ["pyproject.toml", "README.md", "LICENSE"]
for root, dirs, files in os.walk("pytest_memray"):
    dirs[:] = sorted(d for d in dirs if d != "__pycache__")
    paths += [os.path.join(root, f) for f in sorted(files) if not f.endswith((".pyc", ".pyo"))]
for p in paths:
    if os.path.isfile(p):
        h.update(p.encode() + b"\0" + open(p, "rb").read() + b"\0")
print(h.hexdigest()[:16])
EOF
)"
proj_dir="$cache/project"
if [[ "$(cat "$proj_dir/.key" 2>/dev/null || true)" != "$src_key" ]]; then
  log "building the pytest-memray wheel"
  tmp="$proj_dir.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  build_log="$cache/project-build.log"
  if ! "$python" -m pip wheel --disable-pip-version-check --no-deps --wheel-dir "$tmp" "$repo" \
      >"$build_log" 2>&1; then
    cat "$build_log" >&2
    log "building the project wheel failed"
    exit 100
  fi
  echo "$src_key" >"$tmp/.key"
  rm -rf "$proj_dir"
  mv "$tmp" "$proj_dir"
fi

# --- 4. run ------------------------------------------------------------------------------------
node_args=(--wheels "$deps_dir" --wheels "$proj_dir" --repo "$repo" --cwd "$caller_cwd")
if [[ "${1:-}" == "--demo" ]]; then
  shift
  if [[ $# -gt 0 ]]; then
    log "--demo takes no other arguments"
    exit 2
  fi
  node_args+=(--demo)
fi
exec node "$here/run_pytest.mjs" "${node_args[@]}" -- "$@"
