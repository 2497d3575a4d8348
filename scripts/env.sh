# Sourced by scripts/dev and scripts/test: the tool paths and defaults they share.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# cargo-leptos uses the wasm-opt on PATH (from the npm package binaryen) instead of downloading one.
export PATH="$REPO_ROOT/end2end/node_modules/.bin:$HOME/.cargo/bin:$PATH"
# Playwright must never download a browser; the tests use Debian's chromium.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export LEPTOS_ENV="${LEPTOS_ENV:-DEV}"
# One build cache for scripts/dev, scripts/test and scripts/bench, outside the clone: whichever
# runs second starts warm, and a fresh clone (CI) reuses the last build. Override with
# CARGO_TARGET_DIR.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sessionboard/target}"
