#!/usr/bin/env bash
# fuzz.sh TARGET SECONDS [JOBS] — builds the libFuzzer harnesses of tests/fuzz/
# (clang, ASan + UBSan, aborting on the first UB report) into build-fuzz/ and
# runs TARGET (frontend, safetensors or npy) for SECONDS seconds on a
# working corpus seeded from the shipped files. Crashes land in
# build-fuzz/artifacts/TARGET/; copy each into tests/fuzz/regressions/TARGET/
# (test_robust replays them) and record the run in tests/fuzz/README.md.
#   scripts/fuzz.sh build          only build the three harnesses
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
target=${1:-}
seconds=${2:-60}
jobs=${3:-1}
bdir=$root/build-fuzz

need_pkgs=()
command -v clang-14 >/dev/null || command -v clang >/dev/null || need_pkgs+=(clang-14)
ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || need_pkgs+=(libclang-rt-14-dev)
if ((${#need_pkgs[@]})); then
    if [[ $(id -u) == 0 ]]; then
        apt-get install -y "${need_pkgs[@]}"
    else
        echo "fuzz.sh: run: sudo apt-get install -y ${need_pkgs[*]}" >&2
        exit 2
    fi
fi
CC=$(command -v clang-14 || command -v clang)

san=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
if [[ ! -f $bdir/build.ninja ]]; then
    CC=$CC meson setup "$bdir" "$root" --buildtype=debugoptimized -Dtests=false \
        -Db_sanitize=address,undefined -Db_lundef=false \
        -Dc_args="-fsanitize=fuzzer-no-link -fno-sanitize-recover=all -fno-omit-frame-pointer" >/dev/null
fi
if ! ninja -j"${JOBS:-1}" -C "$bdir" engine/libvkgraph.a frontend/libvkgraph_frontend.a frontend/vkg >"$bdir/ninja.log" 2>&1; then
    tail -5 "$bdir/ninja.log" >&2
    [[ -f $bdir/engine/libvkgraph.a && -f $bdir/frontend/libvkgraph_frontend.a ]] || exit 1
    echo "fuzz.sh: warning: the rebuild failed (tree mid-edit?); using the libraries built before" >&2
fi

build_one() {
    local t=$1
    "$CC" -g -O1 "${san[@]}" -fsanitize=fuzzer -D_GNU_SOURCE -std=c11 \
        -I engine/include -I engine/src -I frontend -I "$bdir/shaders" \
        tests/fuzz/fuzz_$t.c "$bdir/frontend/libvkgraph_frontend.a" "$bdir/engine/libvkgraph.a" \
        -lvulkan -lcjson -lyaml -lm -lpthread -o "$bdir/fuzz_$t"
}

seed() {
    local t=$1
    local dir=$bdir/corpus/$t
    mkdir -p "$dir"
    case $t in
    frontend)    cp -n graphs/*.yaml tests/graphs_good/*.yaml tests/graphs_bad/*.yaml "$dir"/ 2>/dev/null || true ;;
    safetensors) cp -n tests/data/*.safetensors "$dir"/ 2>/dev/null || true
                 for d in f32 f16; do
                     [[ -f $dir/nested_$d.safetensors ]] || ASAN_OPTIONS=detect_leaks=0 "$bdir/frontend/vkg" init-weights \
                         tests/graphs_good/repeat_nested.yaml -o "$dir/nested_$d.safetensors" --dtype $d >/dev/null || true
                 done ;;
    npy)         find tests/data graphs/expected -name '*.npy' -size -64k -exec cp -n {} "$dir"/ \; ;;
    esac
    [[ -d tests/fuzz/regressions/$t ]] && cp -n tests/fuzz/regressions/$t/* "$dir"/ 2>/dev/null || true
}

case $target in
build)
    for t in frontend safetensors npy; do build_one $t; done
    exit 0 ;;
frontend|safetensors|npy) ;;
*) echo "usage: scripts/fuzz.sh frontend|safetensors|npy SECONDS [JOBS] | build" >&2; exit 2 ;;
esac

build_one "$target"
seed "$target"
mkdir -p "$bdir/artifacts/$target"
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
max_len=65536
[[ $target == frontend ]] && max_len=16384
par=()
((jobs > 1)) && par=(-jobs="$jobs" -workers="$jobs")   # job logs go to the current directory: build-fuzz
cd "$bdir"
"$bdir/fuzz_$target" "$bdir/corpus/$target" -max_total_time="$seconds" -max_len=$max_len \
    -timeout=25 -rss_limit_mb=2048 -malloc_limit_mb=1024 "${par[@]}" \
    -artifact_prefix="$bdir/artifacts/$target/" -print_final_stats=1 2>&1 | tee "$bdir/fuzz_$target.log" | tail -25
echo "fuzz.sh: artifacts (crashes) in $bdir/artifacts/$target/:"
ls -la "$bdir/artifacts/$target/"
