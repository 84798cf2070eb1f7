#!/bin/sh
# test_tools.sh — the PyTorch reading of the graph format: its numpy self-test, then,
# when a vkg binary is there, every shipped graph against `vkg run` (Vulkan and CPU)
# and against the stored graphs/expected/*.npy.
# Usage: tests/test_tools.sh [PATH/TO/vkg]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
py=/usr/bin/python3
"$py" "$root/tools/test_vkgraph_torch.py"
"$py" "$root/tools/test_vkgraph_train.py"
vkg=${1:-${VKG:-$root/build/frontend/vkg}}
if [ ! -x "$vkg" ]; then
    echo "test_tools.sh: no vkg binary at $vkg (give its path as the argument)" >&2
    exit 1
fi
status=0
for g in "$root"/graphs/*.yaml; do
    "$py" "$root/tools/compare_run.py" --vkg "$vkg" "$g" || status=1
done
# The stored expected outputs must still be what the module computes now.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$py" "$root/tools/make_expected.py" --vkg "$vkg" --outdir "$tmp" >/dev/null || status=1
for f in "$tmp"/*.npy; do
    name=$(basename "$f")
    "$py" - "$f" "$root/graphs/expected/$name" <<'PYEOF' || status=1
import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
rel = float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30)) if a.shape == b.shape else float("inf")
print(f"{sys.argv[2].split('/')[-1]}: stored vs recomputed rel {rel:.3g}")
sys.exit(0 if rel <= 1e-6 else 1)
PYEOF
done
exit $status
