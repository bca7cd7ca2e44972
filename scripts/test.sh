#!/usr/bin/env bash
# The test command: installs what the tests drive (Debian's chromium for the report's
# browser test and bubblewrap for the sandbox; pinned MCP servers from the npm registry for the inspect, extraction and
# gateway tests), then runs `cargo test` with any extra arguments passed through.
#
# The npm registry is whatever the user's npm configuration says; nothing here names one.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: chromium for the report's browser test (tests/report_browser.rs),
# bubblewrap for the sandbox that live introspection runs servers in (tests/sandbox.rs).
missing=()
if ! command -v chromium >/dev/null 2>&1 && [ -z "${MCPWARDEN_CHROMIUM:-}" ]; then
    missing+=(chromium)
fi
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
if [ ${#missing[@]} -gt 0 ]; then
    echo "== apt-get install ${missing[*]}"
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
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

# Packages that `inspect --npm/--pypi` installs for the sandbox tests, cached by version.
export MCPWARDEN_CACHE="${MCPWARDEN_CACHE:-$PWD/target/live-cache}"

# --no-fail-fast: the unit tests and the integration tests both run even when one fails;
# cargo's closing lines say which failed.
echo "== cargo test --no-fail-fast $*"
status=0
cargo test --no-fail-fast "$@" || status=$?

# Static extraction measured on real published servers (corpus/, issue 19): the `ci`
# subset's pinned archives are downloaded once into target/corpus, read without running
# anything, and compared with their live truth; under a floor in corpus/floors.toml fails.
if [ $# -eq 0 ]; then
    echo "== scripts/corpus.py eval --subset ci --floors"
    MCPWARDEN_BIN="${MCPWARDEN_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/debug/mcpwarden}" \
        python3 scripts/corpus.py eval --subset ci --floors --markdown target/corpus-ci.md \
        || status=1
fi
exit $status
