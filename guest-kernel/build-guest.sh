#!/usr/bin/env bash
# Build the bench's guest software for one arch: guest-kernel/build-guest.sh x86_64|arm64|ppc64le
#
#  * guest-kernel/modules/<name>/ (a Kbuild file and sources): out-of-tree
#    kernel modules built against the bench's own kernel build tree
#    ($FAULTLAB_CACHE/linux/build-<arch>, made by guest-kernel/build.sh);
#  * guest-kernel/programs/*.c: one static program per file.
#
# Products go to $FAULTLAB_CACHE/guest/<arch>/{modules,bin}; images/build.sh
# puts that directory into the initramfs at /opt/faultlab. A module directory
# with a file `arches` (arch names, one per line or space-separated), and a
# program with a line `faultlab-arches: <arch> ...` in its first 20 lines, are
# built only for those arches. An arch with nothing to build gets empty dirs.
#
# Incremental: module sources are mirrored (content-compared) into a build
# directory in the cache, so kbuild recompiles only what changed, and outside
# the checkout; a program is recompiled only when its source, the headers
# under guest-kernel/, the compiler or the flags changed. Both go through ccache.
source "$(dirname "$0")/../scripts/common.sh"

ARCH_NAME=${1:-}
case $ARCH_NAME in
    x86_64)  KARCH=x86_64;  CROSS= ;;
    arm64)   KARCH=arm64;   CROSS=aarch64-linux-gnu- ;;
    ppc64le) KARCH=powerpc; CROSS=powerpc64le-linux-gnu- ;;
    *) die "usage: guest-kernel/build-guest.sh x86_64|arm64|ppc64le (got '${ARCH_NAME}')" ;;
esac
HERE=$FAULTLAB_REPO/guest-kernel
KSRC=$FAULTLAB_CACHE/linux/src-$ARCH_NAME
KBUILD=$FAULTLAB_CACHE/linux/build-$ARCH_NAME
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
module_arches() { [[ -f $1/arches ]] && cat "$1/arches" || true; }
program_arches() { head -n 20 "$1" | sed -n 's/.*faultlab-arches:[[:space:]]*\([^*]*\).*/\1/p' | head -n 1; }

# sync_tree SRC DST: make DST hold SRC's files, copying only those whose
# content differs (so their mtimes, and make's view, change only then).
sync_tree() {
    local src=$1 dst=$2 f rel
    mkdir -p "$dst"
    while IFS= read -r -d '' f; do
        rel=${f#"$src"/}
        if ! cmp -s "$f" "$dst/$rel"; then
            mkdir -p "$(dirname "$dst/$rel")"
            cp "$f" "$dst/$rel"
        fi
    done < <(find "$src" -type f -print0)
    # sources removed from the checkout (kbuild outputs are left alone)
    while IFS= read -r -d '' f; do
        rel=${f#"$dst"/}
        [[ -e $src/$rel ]] || rm -f "$f"
    done < <(find "$dst" -type f \( -name '*.c' -o -name '*.h' -o -name Kbuild -o -name Makefile \) -print0)
}

# install_file SRC DST: copy when the content differs.
install_file() { cmp -s "$1" "$2" || cp "$1" "$2"; }

mkdir -p "$OUT/modules" "$OUT/bin" "$WORK"
produced_modules=()
produced_programs=()

# 1. Kernel modules.
modules=()
for d in "$HERE"/modules/*/; do
    d=${d%/}
    [[ -f $d/Kbuild ]] || continue
    wants_arch module_arches "$d" && modules+=("$d")
done
if [[ ${#modules[@]} -gt 0 ]]; then
    [[ -f $KBUILD/.config && -f $KBUILD/Module.symvers && -d $KSRC ]] ||
        die "no $ARCH_NAME kernel build tree with Module.symvers in $KBUILD: run 'make kernel-$ARCH_NAME' first"
    command -v "${CROSS}gcc" >/dev/null || die "${CROSS}gcc missing: run 'make deps' first"
    KMAKE=(make -C "$KSRC" O="$KBUILD" ARCH="$KARCH" CROSS_COMPILE="$CROSS" CC="ccache ${CROSS}gcc"
           HOSTCC="ccache gcc" KBUILD_BUILD_USER=faultlab KBUILD_BUILD_HOST=faultlab
           KBUILD_BUILD_TIMESTAMP="@0" -j"$JOBS")
    for d in "${modules[@]}"; do
        name=$(basename "$d")
        mdir=$WORK/modules/$name
        sync_tree "$d" "$mdir"
        log "building $ARCH_NAME module $name"
        # Messages name the files of the checkout, not of the build copy.
        to_src=("sed" "-E" "s#[^ :]*guest-build/$ARCH_NAME/modules/$name/#$d/#g")
        if ! "${KMAKE[@]}" M="$mdir" modules > "$mdir/build.log" 2>&1; then
            grep -E 'error|warning|Error' "$mdir/build.log" | head -n 40 | "${to_src[@]}" >&2 || true
            die "module $name for $ARCH_NAME failed to build (log: $mdir/build.log)"
        fi
        if grep -E '^[^ ]+:[0-9]+:[0-9]+: warning:|^WARNING:' "$mdir/build.log" | "${to_src[@]}" >&2; then
            log "warnings in module $name (above; log: $mdir/build.log)"
        fi
        found=0
        while IFS= read -r -d '' ko; do
            install_file "$ko" "$OUT/modules/$(basename "$ko")"
            produced_modules+=("$(basename "$ko")")
            found=1
        done < <(find "$mdir" -maxdepth 1 -name '*.ko' -print0)
        [[ $found == 1 ]] || die "module $name built no .ko (log: $mdir/build.log)"
    done
fi

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
for f in "$OUT"/modules/* "$OUT"/bin/*; do
    [[ -e $f ]] || continue
    base=$(basename "$f")
    case " ${produced_modules[*]} ${produced_programs[*]} " in
        *" $base "*) ;;
        *) log "removing stale $f"; rm -f "$f" ;;
    esac
done

secs=$(( $(date +%s) - start ))
log "$ARCH_NAME guest software ready in $OUT: ${#produced_modules[@]} modules, ${#produced_programs[@]} programs (${secs}s)"
