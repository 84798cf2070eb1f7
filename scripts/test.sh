#!/usr/bin/env bash
# Builds (if needed) and runs the whole test suite: Criterion tests of every
# op, kernel, reader and shipped graph on the default Vulkan device with the
# validation layer on, then prints "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -f build/build.ninja ]] || meson setup build --buildtype=release -Db_ndebug=true >/dev/null
ninja -C build
status=0
meson test -C build --print-errorlogs --num-processes 1 || status=$?
python3 - build/meson-logs/testlog.json <<'PY'
import json, sys
passed = failed = 0
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    r = json.loads(line)
    if r.get("result") in ("OK", "EXPECTEDFAIL", "SKIP"):
        passed += 1
    else:
        failed += 1
print(f"{passed} passed, {failed} failed")
PY
exit $status
