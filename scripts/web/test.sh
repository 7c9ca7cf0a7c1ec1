#!/usr/bin/env bash
# The crate's tests in a real browser: web/tests/ compiled to wasm32 and run in headless
# Chromium's WebGPU (Tint compiles the WGSL; SwiftShader runs it on machines without a GPU).
# Then the demo page, driven in a fresh browser, must give the native diabetes example's figures.
# Exits non-zero on any failure. With WEBGPU=off the browser has no WebGPU, and the tests must
# fail: none of them skips for want of an adapter.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/web/tools.sh
ensure_wasm_tools
ensure_chromium

# wasm-bindgen-test-runner reads the browser's flags from web/webdriver.json.
# (Chromium's background connections are refused on machines without a network: off.)
quiet='"--headless=new", "--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run"'
if [ "${WEBGPU:-on}" = off ]; then
  flags="$quiet, \"--disable-features=Vulkan,WebGPU\""
else
  flags="$quiet, \"--enable-unsafe-webgpu\", \"--enable-features=Vulkan\""
fi
printf '{ "goog:chromeOptions": { "args": [%s] } }\n' "$flags" >web/webdriver.json

export CHROMEDRIVER=${CHROMEDRIVER:-$(command -v chromedriver)}
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export WASM_BINDGEN_TEST_TIMEOUT=${WASM_BINDGEN_TEST_TIMEOUT:-900}
cargo test --release -p wgsl-train-web --target wasm32-unknown-unknown

echo "== the demo page, trained in the browser, gives the native example's figures"
bash scripts/web/build.sh
venv=target/web-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q websocket-client
fi
port=${WEB_TEST_PORT:-8731}
python3 -m http.server "$port" --bind 127.0.0.1 --directory web >/dev/null 2>&1 &
server=$!
trap 'kill $server' EXIT
cargo run --release --quiet --example diabetes |
  "$venv/bin/python" scripts/web/check_page.py "http://127.0.0.1:$port/"
