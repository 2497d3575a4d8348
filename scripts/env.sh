# Sourced by scripts/dev and scripts/test: the tool paths and defaults they share.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# cargo-leptos uses the wasm-opt on PATH (from the npm package binaryen) instead of downloading one.
export PATH="$REPO_ROOT/end2end/node_modules/.bin:$HOME/.cargo/bin:$PATH"
# Playwright must never download a browser; the tests use Debian's chromium.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export LEPTOS_ENV="${LEPTOS_ENV:-DEV}"
# Each clone builds into its own target/ (cargo's default), shared by scripts/dev, scripts/test and
# scripts/bench. Never point two clones at one CARGO_TARGET_DIR: cargo's dep-info paths are
# relative to the package, so one clone's newer artifacts look up to date to the other.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"
