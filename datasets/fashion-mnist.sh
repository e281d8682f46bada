#!/usr/bin/env bash
# fashion-mnist.sh - obtain and verify Fashion-MNIST, link it where the configs expect it.
#
# Usage: datasets/fashion-mnist.sh [--hdf5] [DEST]
#   DEST defaults to datasets/fashion-mnist next to this script.
#   --hdf5 also writes DEST/fashion-mnist.h5 with `rdrop convert` (groups /train and /test;
#   the rdrop binary from $RDROP or build/rdrop); use it with data.format: hdf5.
#
# The files come from Debian's dataset-fashion-mnist package (installed with apt-get
# when missing). The SHA-256 of each file's DECOMPRESSED contents is checked against the
# upstream values, then the four .gz files are symlinked into DEST (rdrop reads .gz
# directly). DEST/.verified remembers what was checked (paths, sizes, mtimes), so a
# second run skips the hashing.
#
# Exit codes (as rdrop's): 0 ok, 2 usage, 3 data missing, corrupt or mismatched,
# 5 cannot write DEST.
# Environment: RDROP_FASHION_MNIST_SRC overrides the source folder (no install then).
set -euo pipefail

readonly PROG=${0##*/}
readonly DEFAULT_SRC=/usr/share/datasets/fashion-mnist
readonly PACKAGE=dataset-fashion-mnist
readonly FILES=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
declare -A SHA256=(
    [train-images-idx3-ubyte]=c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888
    [train-labels-idx1-ubyte]=bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9
    [t10k-images-idx3-ubyte]=5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b
    [t10k-labels-idx1-ubyte]=0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34
)

die() { # CODE MESSAGE
    echo "$PROG: $2" >&2
    exit "$1"
}

usage() {
    sed -n '4,7p' "$0" | sed 's/^# \{0,1\}//'
}

missing() { # DIR: prints the files DIR lacks
    local f out=()
    for f in "${FILES[@]}"; do
        [[ -r $1/$f.gz ]] || out+=("$f.gz")
    done
    echo "${out[*]}"
}

install_package() {
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 ||
            die 3 "$DEFAULT_SRC is missing files and installing $PACKAGE needs root (no sudo found): run 'apt-get install $PACKAGE' as root"
        sudo=(sudo)
    fi
    command -v apt-get >/dev/null 2>&1 ||
        die 3 "$DEFAULT_SRC is missing files and apt-get is not available: install Debian's $PACKAGE or pass its files via RDROP_FASHION_MNIST_SRC"
    echo "$PROG: installing $PACKAGE with apt-get" >&2
    if ! apt-cache show "$PACKAGE" >/dev/null 2>&1; then
        "${sudo[@]}" apt-get update -q >&2 || die 3 "apt-get update failed"
    fi
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "$PACKAGE" >&2 ||
        die 3 "apt-get install $PACKAGE failed"
}

# One line per file: name, resolved path, size, mtime (what .verified records).
fingerprint() { # SRC
    local f
    for f in "${FILES[@]}"; do
        printf '%s %s %s\n' "$f" "$(readlink -f -- "$1/$f.gz")" "$(stat -L -c '%s %Y' -- "$1/$f.gz")"
    done
}

verify() { # SRC
    local f got
    for f in "${FILES[@]}"; do
        got=$(zcat -- "$1/$f.gz" 2>/dev/null | sha256sum) ||
            die 3 "$1/$f.gz: cannot decompress (corrupt or truncated gzip)"
        got=${got%% *}
        [[ $got == "${SHA256[$f]}" ]] ||
            die 3 "$1/$f.gz: SHA-256 of the decompressed data is $got, expected ${SHA256[$f]}"
    done
}

# Symlink SRC/f.gz into DEST; replaces an existing link, never a real file.
link_files() { # SRC DEST
    local f src target
    for f in "${FILES[@]}"; do
        src=$(readlink -f -- "$1/$f.gz")
        target=$2/$f.gz
        if [[ -e $target && ! -L $target ]]; then
            die 5 "$target exists and is not a symlink; move it away and run again"
        fi
        if [[ ! -L $target || $(readlink -- "$target") != "$src" ]]; then
            ln -sfn -- "$src" "$target" || die 5 "$target: cannot create symlink"
        fi
    done
}

main() {
    local hdf5=0
    if [[ ${1:-} == --hdf5 ]]; then
        hdf5=1
        shift
    fi
    case ${1:-} in
    -h | --help)
        usage
        exit 0
        ;;
    -*) die 2 "unknown option '$1' (usage: $PROG [--hdf5] [DEST])" ;;
    esac
    (($# <= 1)) || die 2 "too many arguments (usage: $PROG [--hdf5] [DEST])"

    local here dest src
    here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
    dest=${1:-$here/fashion-mnist}
    src=${RDROP_FASHION_MNIST_SRC:-$DEFAULT_SRC}

    local lack
    lack=$(missing "$src")
    if [[ -n $lack ]]; then
        [[ $src == "$DEFAULT_SRC" ]] || die 3 "$src: missing $lack"
        install_package
        lack=$(missing "$src")
        [[ -z $lack ]] || die 3 "$src: $PACKAGE is installed but $lack is missing"
    fi

    mkdir -p -- "$dest" 2>/dev/null || die 5 "$dest: cannot create folder"
    dest=$(cd -- "$dest" && pwd)

    local print stamp=$dest/.verified how
    print=$(fingerprint "$src")
    if [[ -f $stamp && $(<"$stamp") == "$print" ]]; then
        how="already verified (unchanged since $(date -r "$stamp" '+%F %T'))"
    else
        verify "$src"
        if ! { printf '%s\n' "$print" >"$stamp.tmp" && mv -f -- "$stamp.tmp" "$stamp"; } 2>/dev/null; then
            die 5 "$stamp: cannot write"
        fi
        how="SHA-256 of decompressed data verified"
    fi
    link_files "$src" "$dest"

    echo "fashion-mnist: 4 files from $src: $how"
    echo "fashion-mnist: linked into $dest:"
    local f
    for f in "${FILES[@]}"; do
        echo "  $dest/$f.gz"
    done
    if ((hdf5)); then
        local rdrop=${RDROP:-$here/../build/rdrop} h5=$dest/fashion-mnist.h5
        [[ -x $rdrop ]] || die 2 "--hdf5: $rdrop not found: build rdrop first (bash launch/build.sh) or set RDROP"
        "$rdrop" convert --train-images "$dest/train-images-idx3-ubyte.gz" --train-labels "$dest/train-labels-idx1-ubyte.gz" \
            --test-images "$dest/t10k-images-idx3-ubyte.gz" --test-labels "$dest/t10k-labels-idx1-ubyte.gz" \
            --out "$h5" >/dev/null || exit $?
        echo "fashion-mnist: wrote $h5 (data.format: hdf5, data.train_file and data.test_file: this file)"
    fi
}

main "$@"
