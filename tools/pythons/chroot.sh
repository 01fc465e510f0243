#!/usr/bin/env bash
# CPython 3.14, 3.15 and a free-threaded CPython on Linux, for CI: a Debian unstable chroot.
#
#   bash tools/pythons/chroot.sh setup          # make the chroot, or reuse the cached one
#   bash tools/pythons/chroot.sh run CMD [ARG]  # CMD inside it, in this checkout
#   bash tools/pythons/chroot.sh tox [ARG]      # tox inside it (envs in .tox/chroot/)
#   bash tools/pythons/chroot.sh versions       # what each interpreter says it is
#   bash tools/pythons/chroot.sh clean          # delete the cache
#
# See tools/pythons/README.md for why a chroot, what is in it and how it is cached.
# Needs root (mmdebstrap, mount, chroot), util-linux's unshare and network access to a Debian
# mirror and to PyPI. Environment knobs:
#   PYTHONS_CACHE   where the chroot is kept (default /var/cache/pytest-memray-ci/pythons)
#   PYTHONS_MIRROR  the Debian mirror (default http://deb.debian.org/debian)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"
CACHE="${PYTHONS_CACHE:-/var/cache/pytest-memray-ci/pythons}"
MIRROR="${PYTHONS_MIRROR:-http://deb.debian.org/debian}"
SUITE=unstable

# What goes into the chroot: Debian's own 3.14 and 3.15 (with venv, and the headers for any
# sdist a test dependency may need), and what building CPython from source needs.
PACKAGES=(
    python3.14 python3.14-venv python3.14-dev
    python3.15 python3.15-venv python3.15-dev
    gcc make pkg-config libc6-dev xz-utils ca-certificates
    libssl-dev libffi-dev zlib1g-dev libbz2-dev liblzma-dev libzstd-dev libsqlite3-dev
    libreadline-dev libncurses-dev uuid-dev libmpdec-dev libexpat1-dev
)
# The free-threaded interpreter: Debian's source package of this CPython, the newest version
# whose files the mirror serves, built with --disable-gil. It would be python3.14 (for 3.14t),
# but the mirror CI reaches serves no file of python3.14's source package (nor python3.15's):
# every version answers 404. python3.13's is served, so the free-threaded build is 3.13t.
# Where python3.14's source can be had, set python3.14 here and py314t in tox.ini / .ci/run.
FT_SOURCE=python3.13
FT_MINOR="${FT_SOURCE#python}"
FT_PREFIX="/opt/cpython-${FT_MINOR}t"
# No --enable-optimizations: PGO triples the build time, and the suite does not need speed;
# no test modules: CPython's own test suite is a third of the install time.
FT_CONFIGURE=(--disable-gil "--prefix=$FT_PREFIX" --with-system-expat --without-static-libpython
    --disable-test-modules)
TOX_SPEC="tox>=4.4"
# Bump when the recipe changes in a way the lists above do not show.
RECIPE_REVISION=1

recipe_key() {
    printf '%s\n' "$SUITE" "$MIRROR" "${PACKAGES[*]}" "$FT_SOURCE" "${FT_CONFIGURE[*]}" \
        "$TOX_SPEC" "$RECIPE_REVISION" | sha256sum | cut -c1-12
}

KEY="$(recipe_key)"
ROOT="$CACHE/chroot-$KEY"
# Neither the free-threaded prefix (its python3 and python3.13 would shadow Debian's) nor
# tox's venv is on PATH: python3.13t is linked into /usr/local/bin, and tox called by path.
INNER_PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

log() { printf '[pythons] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 2; }

timed() { # timed LABEL CMD...: run CMD, then say how long it took
    local label="$1" start=$SECONDS
    shift
    "$@"
    log "$label: $((SECONDS - start)) s"
}

need_root() {
    [ "$(id -u)" = 0 ] || die "needs root (mmdebstrap, mount and chroot)"
    command -v unshare >/dev/null || die "unshare (util-linux) is missing"
}

# ------------------------------------------------------------------------- entering the chroot
# Everything below runs in a private mount namespace (unshare -m): the mounts vanish with the
# process, whatever way it ends, so nothing is left mounted in the cache.

# What the host's pip needs, brought in on every entry (pip_paths.py lists it): its
# configuration files and every local file they name (CA bundle, constraints) are copied in;
# the local folders they name (find-links, file:// indexes) are bound in read-only, after every
# copy, so that nothing is ever written through a bind mount into the host. So pip inside
# reaches the same indexes through the same proxy CA as the host's pip.
pip_paths() {
    local py
    py="$(command -v python3 || true)"
    [ -n "$py" ] || return 0
    "$py" "$HERE/pip_paths.py" || true
}

inside() { # (in the new namespace) mount, copy the host's network settings, chroot
    local cwd="$1"
    shift
    mount -t proc proc "$ROOT/proc"
    mount --rbind /dev "$ROOT/dev"
    mount -t tmpfs -o mode=1777 tmpfs "$ROOT/tmp"
    local f kind src dst binds=()
    for f in /etc/resolv.conf /etc/hosts; do
        [ -f "$f" ] && { rm -f "$ROOT$f"; cp "$f" "$ROOT$f"; }
    done
    while read -r kind src dst; do
        if [ "$kind" = copy ]; then
            mkdir -p "$(dirname "$ROOT$dst")"
            rm -f "$ROOT$dst"
            cp "$src" "$ROOT$dst"
        else
            binds+=("$dst")
        fi
    done < <(pip_paths)
    for dst in "${binds[@]+"${binds[@]}"}"; do
        mkdir -p "$ROOT$dst"
        mount --bind "$dst" "$ROOT$dst"
        mount -o remount,bind,ro "$ROOT$dst"
    done
    mkdir -p "$ROOT$REPO"
    mount --bind "$REPO" "$ROOT$REPO"
    local envs=(HOME=/root "PATH=$INNER_PATH" LANG=C.UTF-8 "TERM=${TERM:-dumb}")
    local name
    for name in $(compgen -e); do
        case "$name" in
            PIP_* | CI | PYTEST_ADDOPTS | TOX_* | PY_COLORS | NO_COLOR | PYTHON_GIL | FREE_THREADED_RUNS)
                envs+=("$name=${!name}") ;;
        esac
    done
    # shellcheck disable=SC2016
    exec chroot "$ROOT" /usr/bin/env -i "${envs[@]}" /bin/sh -c 'cd "$0" && exec "$@"' \
        "$cwd" "$@"
}

enter() { # enter CMD...: run CMD in the chroot, in the caller's folder if inside the checkout
    local cwd="$PWD"
    case "$cwd/" in "$REPO"/*) ;; *) cwd="$REPO" ;; esac
    unshare --mount --propagation private -- bash "$SELF" __inside "$cwd" "$@"
}

# ------------------------------------------------------------------------- building the chroot
ensure_host_tools() {
    command -v mmdebstrap >/dev/null && return
    log "installing Debian's mmdebstrap on the host"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends mmdebstrap </dev/null >/dev/null
}

make_base() { # the chroot with Debian unstable's Pythons and the build tools
    local tmp="$1"
    # The mirror may serve a frozen snapshot whose Release file is past its Valid-Until date.
    mmdebstrap --mode=root --variant=apt --format=directory \
        --aptopt='Acquire::Check-Valid-Until "false"' \
        --aptopt='APT::Install-Recommends "false"' \
        --include="$(IFS=,; echo "${PACKAGES[*]}")" \
        "$SUITE" "$tmp" \
        "deb $MIRROR $SUITE main" "deb-src $MIRROR $SUITE main" \
        >"$CACHE/mmdebstrap.log" 2>&1 || {
        tail -n 30 "$CACHE/mmdebstrap.log" >&2
        die "mmdebstrap failed (whole log: $CACHE/mmdebstrap.log)"
    }
}

build_free_threaded() { # $FT_SOURCE's Debian source, built with --disable-gil
    local script
    # shellcheck disable=SC2016
    script='set -eu
        source_package="$1"
        interpreter="$2"
        shift 2
        rm -rf /build && mkdir -p /build && cd /build
        apt-get update -qq
        # Newest first; the first version whose files all download is built.
        versions="$(apt-cache showsrc "$source_package" | sed -n "s/^Version: //p" |
            sort -u | sort -r -V)"
        got=""
        for version in $versions; do
            if apt-get source -qq --download-only "$source_package=$version"; then
                got="$version"
                break
            fi
            echo "the mirror does not serve $source_package $version; trying an older one"
            rm -f /build/*
        done
        [ -n "$got" ] || { echo "no version of $source_package could be downloaded"; exit 1; }
        tar -xf "${source_package}_"*.orig.tar.*
        cd "$(find . -mindepth 1 -maxdepth 1 -type d | head -n 1)"
        echo "building $(basename "$PWD") from Debian $source_package $got: configure $*"
        ./configure -q "$@"
        make -s -j"$(nproc)"
        make -s install
        ln -sf "$interpreter" /usr/local/bin/
        cd / && rm -rf /build /var/lib/apt/lists/*'
    enter /bin/sh -c "$script" sh "$FT_SOURCE" "$FT_PREFIX/bin/python${FT_MINOR}t" \
        "${FT_CONFIGURE[@]}" \
        >"$CACHE/build-free-threaded.log" 2>&1 || {
        tail -n 40 "$CACHE/build-free-threaded.log" >&2
        die "building the free-threaded CPython failed (log: $CACHE/build-free-threaded.log)"
    }
    grep -E '^(the mirror|building)' "$CACHE/build-free-threaded.log" | sed 's/^/[pythons]   /' >&2
}

install_tox() { # tox for the chroot's Pythons, in a venv of Debian's 3.14
    enter /bin/sh -c "python3.14 -m venv /opt/tox && /opt/tox/bin/python -m pip install -q \
        --root-user-action=ignore '$TOX_SPEC'" >"$CACHE/tox-install.log" 2>&1 || {
        tail -n 30 "$CACHE/tox-install.log" >&2
        die "installing tox in the chroot failed"
    }
}

setup() {
    need_root
    mkdir -p "$CACHE"
    exec 9>"$CACHE/.lock"
    flock 9
    if [ -f "$ROOT/.ready" ]; then
        log "reusing the chroot in $ROOT"
        return
    fi
    local start=$SECONDS old
    log "making the chroot $ROOT (recipe $KEY); logs in $CACHE"
    for old in "$CACHE"/chroot-*; do
        [ -e "$old" ] && [ "$old" != "$ROOT" ] && { log "removing $old (older recipe)"; rm -rf "$old"; }
    done
    rm -rf "$ROOT"
    timed "host tools" ensure_host_tools
    timed "Debian $SUITE with python3.14, python3.15 and build tools (mmdebstrap)" make_base "$ROOT"
    timed "CPython ${FT_MINOR}t built from Debian's $FT_SOURCE source" build_free_threaded
    timed "tox in the chroot" install_tox
    touch "$ROOT/.ready"
    log "the chroot is ready: $((SECONDS - start)) s in all"
}

versions() {
    # shellcheck disable=SC2016
    enter /bin/sh -c 'for py in python3.14 python3.15 python'"$FT_MINOR"'t; do
        printf "%-12s " "$py"
        "$py" -c "import sys, sysconfig; gil = getattr(sys, \"_is_gil_enabled\", lambda: True)();
print(sys.version.split()[0], \"free-threaded\" if sysconfig.get_config_var(\"Py_GIL_DISABLED\") else \"\",
      \"GIL off\" if not gil else \"GIL on\", sys.executable)"
    done'
}

main() {
    case "${1:-}" in
        __inside) shift; inside "$@" ;;
        setup) setup ;;
        run) shift; need_root; [ -f "$ROOT/.ready" ] || setup; enter "$@" ;;
        tox) shift; need_root; [ -f "$ROOT/.ready" ] || setup
            enter /opt/tox/bin/tox --workdir "$REPO/.tox/chroot" "$@" ;;
        versions) need_root; [ -f "$ROOT/.ready" ] || setup; versions ;;
        clean) need_root; rm -rf "$CACHE" ;;
        *) sed -n '2,14p' "$SELF" | sed 's/^# \{0,1\}//'; [ "${1:-}" = -h ] || [ "${1:-}" = --help ] ;;
    esac
}

main "$@"
