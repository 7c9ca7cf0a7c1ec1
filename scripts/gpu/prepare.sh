#!/usr/bin/env bash
# Run here, before a device run: builds the wgsl-train binary and the GPU-facing test binaries
# (stripped, packed into one xz archive: they share most of their code, 170 MB → ~14 MB), copies
# the JAX grid peer beside them, and fetches the Vulkan loader packages the GPU machine lacks (it
# has the NVIDIA driver but no libvulkan), into two folders git ignores. Then, with the device tool:
#   run(command="bash scripts/gpu/run.sh", carry=[".gl", ".gpu"], timeout_s=540)
# (run.sh takes step names to run some steps only: see its header).
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qx '/.gl/' .git/info/exclude 2>/dev/null || echo '/.gl/' >>.git/info/exclude
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >>.git/info/exclude
# The tests that exercise kernels, in the order run.sh runs them (most telling first).
tests=(grid dropout small_model matmul optim loss loss_weights clip_grad_norm gradients activation
    elementwise reduce training pytorch_optim golden determinism init schedule sweep submissions
    reliability streaming selftest)
cargo build --release --bin wgsl-train
cargo test --release --no-run --message-format=json >/tmp/gpu-build.json
rm -rf .gpu /tmp/gpu-bins && mkdir -p .gpu /tmp/gpu-bins
strip -o /tmp/gpu-bins/wgsl-train "${CARGO_TARGET_DIR:-target}/release/wgsl-train"
for t in "${tests[@]}"; do
    exe=$(python3 -c "
import json, sys
for line in open('/tmp/gpu-build.json'):
    m = json.loads(line)
    if m.get('reason') == 'compiler-artifact' and m['target']['kind'] == ['test'] \
            and m['target']['name'] == sys.argv[1] and m.get('executable'):
        print(m['executable'])" "$t")
    strip -o "/tmp/gpu-bins/test-$t" "$exe"
done
printf '%s\n' "${tests[@]}" >/tmp/gpu-bins/tests.txt
tar -C /tmp/gpu-bins -cf - . | xz -9e -T0 >.gpu/bins.tar.xz
# The JAX peer, where this checkout has it beside it (scripts/gpu/jax_grid_many.py imports it
# from .gpu/); run.sh's jax step says so and skips without it.
if [ -f ../shared/peers/jax_grid.py ]; then
    cp ../shared/peers/jax_grid.py .gpu/
else
    echo "no ../shared/peers/jax_grid.py: the device run's jax step will be skipped"
fi
if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
    mkdir -p .gl /tmp/amd64/partial
    o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
    apt-get "${o[@]}" update
    (cd .gl && apt-get "${o[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
du -sh .gpu .gl
