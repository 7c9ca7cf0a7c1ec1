#!/usr/bin/env bash
# Run here, before a device run: builds the wgsl-train binary and fetches the Vulkan loader
# packages the GPU machine lacks (it has the NVIDIA driver but no libvulkan), into two folders
# git ignores. Then, with the device tool:
#   run(command="bash scripts/gpu/run.sh", carry=[".gl", ".gpu"], timeout_s=540)
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qx '/.gl/' .git/info/exclude 2>/dev/null || echo '/.gl/' >>.git/info/exclude
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >>.git/info/exclude
cargo build --release --bin wgsl-train
mkdir -p .gpu
cp "${CARGO_TARGET_DIR:-target}/release/wgsl-train" .gpu/
if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
    mkdir -p .gl /tmp/amd64/partial
    o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
    apt-get "${o[@]}" update
    (cd .gl && apt-get "${o[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
du -sh .gpu .gl
