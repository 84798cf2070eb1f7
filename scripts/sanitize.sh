#!/usr/bin/env bash
# sanitize.sh [TEST...] — builds the tree with AddressSanitizer and
# UndefinedBehaviorSanitizer into build-asan/ (meson -Db_sanitize=address,undefined)
# and runs the test suite under it (or only the named tests: robust io ...),
# with leak detection on (suppressions for the Vulkan driver stack in
# scripts/lsan.supp) and UBSan halting on the first report. A release runs it;
# it is too slow for every CI run on lavapipe.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bdir=$root/build-asan
if [[ ! -f $bdir/build.ninja ]]; then
    meson setup "$bdir" "$root" --buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
ninja -C "$bdir" -j"${JOBS:-1}"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0:fast_unwind_on_malloc=0
export LSAN_OPTIONS=suppressions=$root/scripts/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export VKG_SOURCE_ROOT=$root VKG_BUILD_ROOT=$bdir
status=0
meson test -C "$bdir" --print-errorlogs --num-processes 1 --timeout-multiplier 4 "$@" || status=$?
grep -h -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$bdir"/meson-logs/testlog.txt | sort | uniq -c | head -40 || true
exit $status
