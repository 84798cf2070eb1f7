#!/usr/bin/env bash
# Installs what is missing (Debian 12 packages), configures and builds vkgraph
# in ./build, then runs a shipped graph on the default Vulkan device.
# Debian's python3-torch is for tools/ (the PyTorch reading, tested in the suite).
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(build-essential pkg-config meson ninja-build python3
      libvulkan-dev mesa-vulkan-drivers vulkan-validationlayers glslc spirv-tools
      libyaml-dev libcjson-dev libstb-dev libcriterion-dev
      python3-torch python3-numpy python3-yaml)

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]]; then
        echo "setup: installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "setup: missing packages; run this, then run setup again:"
        echo "  sudo apt-get install -y ${missing[*]}"
        exit 1
    fi
fi

[[ -f build/build.ninja ]] || meson setup build --buildtype=release -Db_ndebug=true >/dev/null
ninja -C build
echo
echo "setup: running graphs/llama-tiny.yaml on the default device"
./build/frontend/vkg run graphs/llama-tiny.yaml --text "Hello, vkgraph!" --out build/out
