#!/usr/bin/env bash
# What `gateway --config` (several servers behind one endpoint) adds over the single-server
# gateway, over stdio: N sequential `echo` calls (after a warm-up) through
#   1. the test server directly,
#   2. `gateway --policy` in front of it,
#   3. `gateway --config` with that server alone (`alpha__echo`),
#   4. `gateway --config` with three servers (calls to the first one),
# each run back to back, printing p50 and p99 of the round trip in microseconds, and the
# `tools/list` time with three servers (one fan-out).
# Usage: benches/gateway_config.sh [calls]   (builds the release binaries first, unless
# MCPWARDEN_BENCH_NO_BUILD=1: then the ones already in target/release are used)
set -euo pipefail
calls=${1:-3000}
cd "$(dirname "$0")/.."
if [ "${MCPWARDEN_BENCH_NO_BUILD:-}" != 1 ]; then
  cargo build --release --quiet --bin mcpwarden --bin mcpwarden-test-server
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/policies"
for server in alpha beta gamma; do
  cp tests/data/gateway/multi/alpha.json "$work/policies/$server.json"
done
server="$PWD/target/release/mcpwarden-test-server"
printf '{"mcpServers": {"alpha": {"command": "%s"}}}' "$server" >"$work/one.json"
printf '{"mcpServers": {"alpha": {"command": "%s"}, "beta": {"command": "%s"}, "gamma": {"command": "%s"}}}' \
  "$server" "$server" "$server" >"$work/three.json"
gateway="$PWD/target/release/mcpwarden"
uptime
python3 - "$calls" "$server" "$gateway" "$work" <<'PY'
import json, subprocess, sys, time
calls, server, gateway, work = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
policy = "tests/data/gateway/multi/alpha.json"

def run(label, argv, tool):
    child = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    def request(message):
        child.stdin.write((json.dumps(message) + "\n").encode()); child.stdin.flush()
        while True:
            answer = json.loads(child.stdout.readline())
            if answer.get("id") == message["id"] and "method" not in answer:
                return answer
    request({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}})
    child.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n'); child.stdin.flush()
    start = time.perf_counter_ns()
    listed = request({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    list_us = (time.perf_counter_ns() - start) / 1000
    assert any(t["name"] == tool for t in listed["result"]["tools"]), listed
    samples = []
    for i in range(calls + 200):
        message = {"jsonrpc": "2.0", "id": 10 + i, "method": "tools/call",
                   "params": {"name": tool, "arguments": {"text": "hi"}}}
        start = time.perf_counter_ns()
        answer = request(message)
        elapsed = (time.perf_counter_ns() - start) / 1000
        assert "result" in answer and not answer["result"].get("isError"), answer
        if i >= 200:
            samples.append(elapsed)
    child.stdin.close(); child.wait(timeout=20)
    samples.sort()
    p50, p99 = samples[len(samples) // 2], samples[int(len(samples) * 0.99)]
    print(f"gateway_config/{label}: calls={calls} p50={p50:.1f}us p99={p99:.1f}us tools/list={list_us:.0f}us")

run("direct", [server], "echo")
run("gateway_policy", [gateway, "gateway", "--policy", policy, "--", server], "echo")
run("gateway_config_one", [gateway, "gateway", "--config", f"{work}/one.json", "--policies", f"{work}/policies"], "alpha__echo")
run("gateway_config_three", [gateway, "gateway", "--config", f"{work}/three.json", "--policies", f"{work}/policies"], "alpha__echo")
PY
uptime
