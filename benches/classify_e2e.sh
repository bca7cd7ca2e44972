#!/usr/bin/env bash
# End-to-end timing of `mcpwarden classify` over a 100,000-tool catalogue: 10,000 servers
# of 10 tools each, drawn from the labelled set, imported once; each run classifies a
# fresh copy of the unclassified catalogue, so every run writes all 100,000 verdicts.
# Usage: benches/classify_e2e.sh [runs]   (builds the release binary first)
#        MCPWARDEN_BIN=/path/to/mcpwarden benches/classify_e2e.sh [runs]   (times that binary
#        instead, without building: to compare two builds back to back)
set -euo pipefail
runs=${1:-5}
cd "$(dirname "$0")/.."
if [ -n "${MCPWARDEN_BIN:-}" ]; then
  bin=$MCPWARDEN_BIN
else
  cargo build --release --quiet
  bin=target/release/mcpwarden
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$work/catalog.jsonl" <<'PY'
import json, sys
labels = [json.loads(l) for l in open("tests/data/labels/tools.jsonl", encoding="utf-8")]
with open(sys.argv[1], "w", encoding="utf-8") as out:
    n = 0
    for server in range(10_000):
        tools = []
        for slot in range(10):
            label = labels[n % len(labels)]
            n += 1
            tools.append({"name": f"{label['name']}_{slot}", "description": label["description"],
                          "input_schema": label["input_schema"],
                          **({"annotations": label["annotations"]} if label["annotations"] else {})})
        out.write(json.dumps({"name": f"bench/server-{server:05}", "description": labels[server % len(labels)]["server_description"],
                              "tools": tools}) + "\n")
PY
"$bin" --db "$work/base.db" catalog import "$work/catalog.jsonl" >/dev/null 2>&1
times=()
for run in $(seq "$runs"); do
  rm -f "$work"/run.db*
  cp "$work/base.db" "$work/run.db"
  [ -f "$work/base.db-wal" ] && cp "$work/base.db-wal" "$work/run.db-wal"
  start=$(date +%s.%N)
  "$bin" --db "$work/run.db" classify 2>"$work/stderr"
  end=$(date +%s.%N)
  t=$(echo "$end - $start" | bc)
  times+=("$t")
  echo "run $run: ${t}s  ($(head -1 "$work/stderr"))"
done
printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print "median: " a[int((NR+1)/2)] " s over " NR " runs"}'
