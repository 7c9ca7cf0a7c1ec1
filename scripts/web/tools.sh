# Sourced by build.sh and test.sh: what building the crate for a browser needs, installed
# when missing. The wasm-bindgen CLI must be the version of the `wasm-bindgen` crate in
# Cargo.lock (its output and the crate's glue must match).
set -euo pipefail

wasm_bindgen_version() {
  sed -n '/^name = "wasm-bindgen"$/{n;s/^version = "\(.*\)"$/\1/p}' Cargo.lock
}

ensure_wasm_tools() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    rustup target add wasm32-unknown-unknown
  fi
  local version
  version=$(wasm_bindgen_version)
  if ! wasm-bindgen --version 2>/dev/null | grep -q " $version\$"; then
    echo "== installing wasm-bindgen-cli $version (a few minutes, once)"
    # Not --locked: one of its locked dependencies is not in the registry.
    cargo install --quiet wasm-bindgen-cli --version "$version"
  fi
}

ensure_chromium() {
  if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    return
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "needs Chromium and its driver: sudo apt-get install -y chromium chromium-driver" >&2
    exit 1
  fi
  echo "== installing Chromium and chromedriver"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }
}
