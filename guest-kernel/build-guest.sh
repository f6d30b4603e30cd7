#!/usr/bin/env bash
# Build the bench's kernel-independent guest software for one arch:
#   guest-kernel/build-guest.sh x86_64|arm64|ppc64le
#
#  * guest-kernel/programs/*.c: one static program per file;
#  * ppc64le: the kernel's nx-gzip selftests, from the default series' source.
#
# Products go to $FAULTLAB_CACHE/guest/<arch>/{bin,selftests}; images/build.sh
# puts that directory into the base initramfs at /opt/faultlab. A program with
# a line `faultlab-arches: <arch> ...` in its first 20 lines is built only for
# those arches. Our kernel modules are built per kernel, not here:
# guest-kernel/build-modules.sh (their overlay is appended at boot).
#
# Incremental: a program is recompiled only when its source, the headers under
# guest-kernel/, the compiler or the flags changed, through ccache.
source "$(dirname "$0")/../scripts/common.sh"

ARCH_NAME=${1:-}
arch_tools "$ARCH_NAME" || die "usage: guest-kernel/build-guest.sh x86_64|arm64|ppc64le (got '${ARCH_NAME}')"
HERE=$FAULTLAB_REPO/guest-kernel
# The nx-gzip selftests come from the default series' patched source tree.
KSRC=$FAULTLAB_CACHE/linux/${FAULTLAB_KERNEL_SERIES:-6.12}/src-$ARCH_NAME
WORK=$FAULTLAB_CACHE/guest-build/$ARCH_NAME
OUT=$FAULTLAB_CACHE/guest/$ARCH_NAME
CFLAGS_PROG=(-static -O2 -Wall -Wextra -I"$HERE/modules")
start=$(date +%s)
# One build of an arch's guest software at a time (a second caller waits).
mkdir -p "$FAULTLAB_CACHE/guest-build"
exec 8>"$FAULTLAB_CACHE/guest-build/.build-$ARCH_NAME.lock"
flock 8

# wants_arch FILE...: does the declaration in FILE (if any) include this arch?
wants_arch() {
    local decl
    decl=$("$@")
    [[ -z $decl ]] && return 0
    [[ " $(echo $decl) " == *" $ARCH_NAME "* ]]
}
program_arches() { head -n 20 "$1" | sed -n 's/.*faultlab-arches:[[:space:]]*\([^*]*\).*/\1/p' | head -n 1; }

# install_file SRC DST: copy when the content differs.
install_file() { cmp -s "$1" "$2" || cp "$1" "$2"; }

rm -rf "$OUT/modules"  # modules are per kernel now (build-modules.sh)
mkdir -p "$OUT/bin" "$WORK"
produced_programs=()

# 2. Programs.
headers_hash=$(tree_hash "$HERE/modules" "$HERE/programs")
for src in "$HERE"/programs/*.c; do
    [[ -e $src ]] || continue
    wants_arch program_arches "$src" || continue
    name=$(basename "$src" .c)
    command -v "${CROSS}gcc" >/dev/null || die "${CROSS}gcc missing: run 'make deps' first"
    bin=$WORK/bin/$name
    mkdir -p "$WORK/bin"
    want=$( (echo "${CFLAGS_PROG[*]}"; "${CROSS}gcc" --version | head -n 1; echo "$headers_hash") | sha256sum | cut -d' ' -f1)
    if [[ ! -x $bin || ! -f $bin.stamp || $(cat "$bin.stamp") != "$want" ]]; then
        log "building $ARCH_NAME program $name"
        if ! ccache "${CROSS}gcc" "${CFLAGS_PROG[@]}" -o "$bin.tmp" "$src" 2> "$bin.log"; then
            cat "$bin.log" >&2
            die "program $name for $ARCH_NAME failed to compile"
        fi
        [[ -s $bin.log ]] && { cat "$bin.log" >&2; log "warnings in program $name (above)"; }
        mv "$bin.tmp" "$bin"
        echo "$want" > "$bin.stamp"
    fi
    install_file "$bin" "$OUT/bin/$name"
    produced_programs+=("$name")
done

# 2b. ppc64le: the kernel's own nx-gzip selftests (tools/testing/selftests/powerpc/
# nx-gzip of the bench's kernel source), built unmodified with their Makefile's
# CFLAGS, static, into $OUT/selftests/nx-gzip (/opt/faultlab/selftests/nx-gzip).
if [[ $ARCH_NAME == ppc64le ]]; then
    st=$KSRC/tools/testing/selftests/powerpc
    [[ -f $st/nx-gzip/gzfht_test.c ]] ||
        die "no nx-gzip selftests in $KSRC: run 'make kernel-ppc64le' first"
    stout=$OUT/selftests/nx-gzip
    mkdir -p "$stout" "$WORK/selftests"
    want=$( (cat "$st"/nx-gzip/*.c "$st"/nx-gzip/include/*.h "$st"/utils.c "$st"/include/*.h;
             "${CROSS}gcc" --version | head -n 1) | sha256sum | cut -d' ' -f1)
    for t in gzfht_test gunz_test; do
        bin=$WORK/selftests/$t
        if [[ ! -x $bin || ! -f $bin.stamp || $(cat "$bin.stamp") != "$want" ]]; then
            log "building $ARCH_NAME selftest nx-gzip/$t"
            (cd "$st/nx-gzip" && ccache "${CROSS}gcc" -static -O3 -m64 -I./include -I../include \
                "$t.c" gzip_vas.c ../utils.c -o "$bin.tmp") 2> "$bin.log" ||
                { cat "$bin.log" >&2; die "selftest nx-gzip/$t for $ARCH_NAME failed to compile"; }
            mv "$bin.tmp" "$bin"
            echo "$want" > "$bin.stamp"
        fi
        install_file "$bin" "$stout/$t"
    done
    install_file "$st/nx-gzip/nx-gzip-test.sh" "$stout/nx-gzip-test.sh"
fi

# 3. Drop products whose source is gone (or no longer built for this arch).
for f in "$OUT"/bin/*; do
    [[ -e $f ]] || continue
    base=$(basename "$f")
    case " ${produced_programs[*]} " in
        *" $base "*) ;;
        *) log "removing stale $f"; rm -f "$f" ;;
    esac
done

secs=$(( $(date +%s) - start ))
log "$ARCH_NAME guest software ready in $OUT: ${#produced_programs[@]} programs (${secs}s)"
