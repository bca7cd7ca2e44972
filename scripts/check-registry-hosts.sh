#!/usr/bin/env bash
# No package registry's host name may be written into the repository: registry URLs come
# from flags, the environment or the user's npm/pip configuration. This check asks this
# machine's own tools which registries they use (npm's registry, pip's index and its
# file host, cargo's registry index, apt's sources) and fails when a tracked file names
# one of those hosts. It names no host itself. Cargo.lock is written by cargo and is left
# out.
set -euo pipefail
cd "$(dirname "$0")/.."

hosts=()
add_url() { # scheme://host[:port]/... -> host
    local host="${1#*://}"
    host="${host%%/*}"
    host="${host%%:*}"
    host="${host##*@}"
    [ -n "$host" ] && hosts+=("$host")
}
if command -v npm >/dev/null 2>&1; then
    add_url "$(npm config get registry 2>/dev/null || true)"
fi
if command -v python3 >/dev/null 2>&1; then
    while read -r host; do [ -n "$host" ] && hosts+=("$host"); done < <(
        python3 - <<'PY' 2>/dev/null || true
import os, subprocess
from urllib.parse import urlparse
try:
    from pip._internal.models.index import PyPI
    print(PyPI.netloc); print(PyPI.file_storage_domain)
except Exception:
    pass
urls = [os.environ.get("PIP_INDEX_URL", ""), os.environ.get("PIP_EXTRA_INDEX_URL", "")]
try:
    out = subprocess.run(["python3", "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    urls += [line.split("=", 1)[1].strip("'\"") for line in out.splitlines() if "index-url" in line]
except Exception:
    pass
for url in " ".join(urls).split():
    if urlparse(url).hostname:
        print(urlparse(url).hostname)
PY
    )
fi
for index in "${CARGO_HOME:-$HOME/.cargo}"/registry/index/*/; do
    [ -d "$index" ] || continue
    name="$(basename "$index")"
    hosts+=("${name%-*}")
done
for list in /etc/apt/sources.list /etc/apt/sources.list.d/*; do
    [ -f "$list" ] || continue
    while read -r url; do add_url "$url"; done < <(grep -oE '[a-z]+://[^ ]+' "$list" || true)
done

if [ ${#hosts[@]} -eq 0 ]; then
    echo "no registry configuration found on this machine; nothing to check" >&2
    exit 0
fi
found=0
for host in $(printf '%s\n' "${hosts[@]}" | sort -u); do
    if git grep -nIiF -e "$host" -- . ':!Cargo.lock'; then
        found=1
    fi
done
if [ $found -ne 0 ]; then
    echo "the lines above name a package registry's host; take it from a flag, the environment or the user's configuration instead" >&2
    exit 1
fi
echo "no registry host named ($(printf '%s\n' "${hosts[@]}" | sort -u | wc -l) hosts from this machine's npm, pip, cargo and apt configuration)"
