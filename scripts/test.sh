#!/usr/bin/env bash
# The test command: installs what the tests drive (Debian's chromium for the report's
# browser test; pinned MCP servers from the npm registry for the inspect, extraction and
# gateway tests), then runs `cargo test` with any extra arguments passed through.
#
# The npm registry is whatever the user's npm configuration says; nothing here names one.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1 && [ -z "${MCPWARDEN_CHROMIUM:-}" ]; then
    echo "== apt-get install chromium (for tests/report_browser.rs)"
    if [ "$(id -u)" = 0 ]; then
        apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
    else
        sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
    fi
fi

# Real servers, pinned. Installed once into target/npm (cargo clean removes them).
NPM_PACKAGES=(
    "@modelcontextprotocol/server-everything@2026.8.31"
    "@modelcontextprotocol/server-filesystem@2026.8.31"
)
export MCPWARDEN_NPM_DIR="${MCPWARDEN_NPM_DIR:-$PWD/target/npm}"
stamp="$MCPWARDEN_NPM_DIR/.installed"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "${NPM_PACKAGES[*]}" ]; then
    echo "== npm install ${NPM_PACKAGES[*]} into $MCPWARDEN_NPM_DIR"
    mkdir -p "$MCPWARDEN_NPM_DIR"
    [ -f "$MCPWARDEN_NPM_DIR/package.json" ] || echo '{"private": true}' > "$MCPWARDEN_NPM_DIR/package.json"
    npm install --prefix "$MCPWARDEN_NPM_DIR" --no-audit --no-fund --loglevel=error "${NPM_PACKAGES[@]}"
    echo "${NPM_PACKAGES[*]}" > "$stamp"
fi

echo "== cargo test $*"
cargo test "$@"
