#!/usr/bin/env bash
# Builds the web demo into web/pkg/ (the wasm module and its JavaScript bindings). Then serve
# web/ and open it in a browser with WebGPU:
#   python3 -m http.server 8000 --bind 127.0.0.1 --directory web
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/web/tools.sh
ensure_wasm_tools
cargo build --release -p wgsl-train-web --target wasm32-unknown-unknown
# Where cargo put it: CARGO_TARGET_DIR when set, else target/.
wasm-bindgen --target web --no-typescript --out-dir web/pkg \
  "${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/release/wgsl_train_web.wasm"
echo "built web/pkg/; serve web/ (python3 -m http.server 8000 --bind 127.0.0.1 --directory web)"
