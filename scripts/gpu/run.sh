#!/usr/bin/env bash
# Run on the GPU machine (see prepare.sh): checks every kernel against the CPU reference on
# the GPU, then measures wgsl-train and PyTorch side by side. Everything lands in $OUT.
set -uo pipefail
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
export WGPU_BACKEND=vulkan
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv | tee "$OUT/gpu.txt"
bin=.gpu/wgsl-train
# The checks first: a failing kernel makes the figures after it worthless.
$bin selftest 2>&1 | tee "$OUT/selftest.txt"
echo "selftest exit: ${PIPESTATUS[0]}" | tee -a "$OUT/selftest.txt"
$bin bench --json "$OUT/bench.json" 2>&1 | tee "$OUT/bench.txt"
# Streaming: a 4 GB generated dataset from host memory beside one that fits (issue 14).
$bin bench --stream-gb 4 --json "$OUT/stream.json" 2>&1 | tee "$OUT/stream.txt"
PYTHONUNBUFFERED=1 python3 scripts/gpu/torch_bench.py --json "$OUT/torch.json" 2>&1 | tee "$OUT/torch.txt"
