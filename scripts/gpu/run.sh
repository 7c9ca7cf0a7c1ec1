#!/usr/bin/env bash
# Run on the GPU machine (see prepare.sh): checks every kernel against the CPU reference on the
# GPU (selftest, then the kernel-facing test binaries), then measures wgsl-train, JAX's vmapped
# grid and PyTorch side by side. Each step has its own time limit and writes into $OUT as it
# goes, so a slow step costs only its own figures. At most 8 files come back: the whole output
# goes to log.txt, the figures to JSON files, failing tests' ends to tests-failed.txt.
#
#   bash scripts/gpu/run.sh                  every step
#   bash scripts/gpu/run.sh tests grid       some: selftest tests bench grid jax torch stream
set -uo pipefail
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
steps=${*:-selftest tests bench jax torch stream}
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
export WGPU_BACKEND=vulkan XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv
mkdir -p /tmp/bins && tar -C /tmp/bins -xJf .gpu/bins.tar.xz
bin=/tmp/bins/wgsl-train
# Fail fast when wgpu finds no NVIDIA adapter: every figure after this would be lavapipe's or none.
timeout 60 $bin selftest >/tmp/selftest.txt 2>&1
echo "selftest exit: $?"
[[ " $steps " == *" selftest "* ]] && cat /tmp/selftest.txt
grep -qi nvidia /tmp/selftest.txt || { echo "no NVIDIA adapter: stopping"; ls -l /usr/local/nvidia/share/vulkan/icd.d/ 2>&1; exit 1; }
# The tests read fixtures, and run the CLI, through the paths they were built with
# (CARGO_MANIFEST_DIR, CARGO_BIN_EXE_wgsl-train).
built_in=/work/main
[ -e "$built_in" ] || { mkdir -p "$(dirname "$built_in")" && ln -s "$PWD" "$built_in"; }
mkdir -p target/release && cp $bin target/release/wgsl-train
for step in $steps; do
    case $step in
    selftest) ;;
    tests)
        start=$SECONDS
        while read -r t; do
            if (( SECONDS - start > 110 )); then echo "test-$t: not run (time)"; continue; fi
            timeout 45 /tmp/bins/test-$t --test-threads 8 >"/tmp/test-$t.log" 2>&1
            rc=$?
            echo "test-$t: exit $rc; $(grep -E '^test result' "/tmp/test-$t.log" | tail -1)"
            [ $rc -eq 0 ] || tail -40 "/tmp/test-$t.log" >>"$OUT/tests-failed.txt"
        done </tmp/bins/tests.txt ;;
    bench) timeout 100 $bin bench --json "$OUT/bench.json" ;;
    # The grid rows in each kernel form (issue 20), and a sweep whose widths 5 and 16 make two
    # kernels, twice: compiling them, then with the driver's shader cache holding them.
    grid)
        for form in looped unrolled subgroup; do
            timeout 60 $bin bench --grid-only --grid-form $form --json "$OUT/grid-$form.json"
        done
        for run in compiling cached; do
            echo "sweep, $run:"
            time timeout 60 $bin sweep --data diabetes --optimizer sgd,adam --lr 1e-3,1e-2 \
                --hidden 5,16 --folds 5 --epochs 20 >/dev/null
        done ;;
    # JAX's grid at 120 models and at 960 (8 copies; 84 copies, the bench's 10,080 models,
    # outran 120 s in jax_grid.py's per-model preparation in Python before its timings).
    jax)
        [ -f .gpu/jax_grid.py ] || { echo "jax: no .gpu/jax_grid.py (see prepare.sh): skipped"; continue; }
        timeout 80 python3 .gpu/jax_grid.py 20
        timeout 80 python3 scripts/gpu/jax_grid_many.py 8 20 ;;
    torch) timeout 90 python3 scripts/gpu/torch_bench.py --json "$OUT/torch.json" ;;
    # Streaming: a 4 GB generated dataset from host memory beside one that fits (issue 14).
    stream) timeout 45 $bin bench --stream-gb 4 --json "$OUT/stream.json" ;;
    *) echo "unknown step $step" ;;
    esac
done
