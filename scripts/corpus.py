#!/usr/bin/env python3
"""The real-world corpus (corpus/servers.toml): live truth and the extraction eval.

  scripts/corpus.py truth [--only ID,...] [--jobs N]
      Installs each npm/PyPI server at its pinned version and lists its tools live, in
      mcpwarden's sandbox (`mcpwarden inspect --npm/--pypi`), and writes what it listed to
      corpus/truth/<id>.json: tool names, input property names, required lists, a hash of
      each description. Facts about the published server; its code is never kept here.

  scripts/corpus.py eval [--only ID,...] [--subset ci] [--ecosystem npm|pypi] [--floors]
                         [--markdown FILE]
      Downloads each pinned package archive (npm pack / pip download, cached under
      target/corpus), runs `mcpwarden extract --json` on it without running anything, and
      compares with the truth: recall, precision, description and property-name fidelity,
      and a reason for every miss. --floors fails (exit 1) when a total falls under the
      floors in corpus/floors.toml (which may only be raised): its [all] table for the
      whole corpus, [ci] for `--subset ci`, the cached subset .ci/run checks.

Registries are the user's npm and pip configuration; nothing here names one. The binary
is target/release/mcpwarden, else target/debug/mcpwarden ($MCPWARDEN_BIN overrides).
"""

import argparse
import concurrent.futures
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
TRUTH = CORPUS / "truth"
CACHE = ROOT / "target" / "corpus"


def binary():
    if os.environ.get("MCPWARDEN_BIN"):
        return os.environ["MCPWARDEN_BIN"]
    for profile in ("release", "debug"):
        path = ROOT / "target" / profile / "mcpwarden"
        if path.is_file():
            return str(path)
    sys.exit("no mcpwarden binary: run `cargo build --release` first (or set MCPWARDEN_BIN)")


def servers(only, subset=None, ecosystem=None):
    data = tomllib.loads(Path(os.environ.get("MCPWARDEN_CORPUS_FILE", CORPUS / "servers.toml")).read_text())
    chosen = []
    for server in data["server"]:
        if server.get("ecosystem") not in ("npm", "pypi"):
            continue
        if only and server["id"] not in only:
            continue
        if subset and subset not in server.get("subsets", []):
            continue
        if ecosystem and server.get("ecosystem") != ecosystem:
            continue
        chosen.append(server)
    return chosen


def safe_name(server_id):
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in server_id)


def redact(text):
    """An error as recorded in corpus/truth: URLs (the user's registry among them, which the
    repository must never name) and local paths of this machine replaced by placeholders."""
    text = re.sub(r"[a-z][a-z0-9+.-]*://[^\s'\"<>)]+", "<url>", text)
    return re.sub(r"(?<![\w.])/(?:root|home|work|tmp)/[^\s'\"<>):]+", "<path>", text)


def description_hash(text):
    return "sha256:" + hashlib.sha256((text or "").encode()).hexdigest()


def tool_facts(tool):
    schema = tool.get("inputSchema") or tool.get("input_schema") or {}
    properties = schema.get("properties") or {}
    return {
        "name": tool["name"],
        "properties": sorted(properties.keys()) if isinstance(properties, dict) else [],
        "required": sorted(schema.get("required") or []),
        "description_sha256": description_hash(tool.get("description")),
    }


# ---------------------------------------------------------------------------- truth


def collect_truth(server, mcpwarden):
    flag = "--npm" if server["ecosystem"] == "npm" else "--pypi"
    sep = "@" if server["ecosystem"] == "npm" else "=="
    command = [mcpwarden, "inspect", "--json", "--timeout", str(server.get("timeout", 60))]
    command += [flag, f"{server['package']}{sep}{server['version']}"]
    if server.get("bin"):
        command += ["--entry", server["bin"]]
    if server.get("module"):
        command += ["--module", server["module"]]
    for name, value in sorted((server.get("env") or {}).items()):
        command += ["--env", f"{name}={value}"]
    # Arguments may name /scratch/NAME: a folder made in the sandbox's scratch, where the
    # server starts, so it is passed as ./NAME.
    args = []
    for arg in server.get("args") or []:
        if arg.startswith("/scratch/"):
            name = arg[len("/scratch/"):]
            command += ["--scratch-dir", name.split("/")[0]]
            arg = "./" + name
        args.append(arg)
    if args:
        command += ["--"] + args
    started = time.time()
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    record = {
        "id": server["id"],
        "package": server["package"],
        "version": server["version"],
        "collected": time.strftime("%Y-%m-%d", time.gmtime()),
        "seconds": round(time.time() - started, 1),
    }
    if result.returncode != 0:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        record["error"] = redact("\n".join(lines[-12:]))
        return record
    listing = json.loads(result.stdout)
    record["sandboxed"] = listing.get("sandboxed", False)
    record["server"] = {"name": listing["server"], "version": listing["version"]}
    record["tools"] = [tool_facts(tool) for tool in listing["tools"]]
    return record


def truth(args):
    mcpwarden = binary()
    TRUTH.mkdir(parents=True, exist_ok=True)
    chosen = servers(args.only)
    ok = failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(collect_truth, server, mcpwarden): server for server in chosen}
        for future in concurrent.futures.as_completed(futures):
            server = futures[future]
            try:
                record = future.result()
            except Exception as error:  # a timeout of the whole inspect, say
                record = {"id": server["id"], "package": server["package"],
                          "version": server["version"], "error": redact(str(error))}
            path = TRUTH / f"{safe_name(server['id'])}.json"
            kept = path.is_file() and "error" in record and "error" not in json.loads(path.read_text())
            if kept:  # a failed run never replaces a listing collected earlier
                record["error"] += f"\n(kept the earlier listing in {path.name})"
            else:
                path.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
            if "error" in record:
                failed += 1
                first = record["error"].splitlines()[0] if record["error"] else "?"
                print(f"FAIL {server['id']}: {first[:160]}", flush=True)
            else:
                ok += 1
                print(f"ok   {server['id']}: {len(record['tools'])} tools "
                      f"({record['seconds']} s)", flush=True)
    print(f"{ok} listed, {failed} failed, of {len(chosen)}")


# ---------------------------------------------------------------------------- eval


def download(server):
    folder = CACHE / server["ecosystem"]
    folder.mkdir(parents=True, exist_ok=True)
    if server["ecosystem"] == "npm":
        name = server["package"].lstrip("@").replace("/", "-")
        archive = folder / f"{name}-{server['version']}.tgz"
        if not archive.is_file():
            subprocess.run(["npm", "pack", f"{server['package']}@{server['version']}",
                            "--pack-destination", str(folder), "--silent"],
                           check=True, capture_output=True, timeout=300)
        return archive
    normal = server["package"].lower().replace("-", "_").replace(".", "_")
    pattern = f"{normal}-{server['version']}-*.whl"
    found = sorted(folder.glob(pattern)) or sorted(
        p for p in folder.glob("*.whl") if p.name.lower().startswith(f"{normal}-{server['version']}-"))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                        "--disable-pip-version-check", "--quiet", "--ignore-requires-python", "-d", str(folder),
                        f"{server['package']}=={server['version']}"],
                       check=True, capture_output=True, timeout=300)
        found = sorted(p for p in folder.glob("*.whl")
                       if p.name.lower().startswith(f"{normal}-{server['version']}-"))
    if not found:
        raise RuntimeError(f"no wheel of {server['package']}=={server['version']} in {folder}")
    return found[0]


def extract(archive, mcpwarden):
    result = subprocess.run([mcpwarden, "extract", "--json", str(archive)],
                            capture_output=True, text=True, timeout=600)
    if result.returncode not in (0, 1):
        raise RuntimeError(result.stderr.strip()[-300:])
    data = json.loads(result.stdout)
    tools = {}
    unread = []
    for server in data.get("servers", []):
        for tool in server.get("tools", []):
            tools.setdefault(tool["name"], tool)
        if server.get("unread"):
            unread.append(server["unread"]["reason"])
        for item in server.get("unresolved", []):
            unread.append(f"unresolved at {item['location']}: {item['reason']}")
    skipped = [f"{s['path']}: {s['reason']}" for s in data.get("skipped", [])]
    return tools, unread, skipped


def compare(server, truth_record, mcpwarden):
    row = {"id": server["id"], "style": server.get("style", "?")}
    started = time.time()
    archive = download(server)
    static, unread, skipped = extract(archive, mcpwarden)
    row["seconds"] = round(time.time() - started, 2)
    live = {tool["name"]: tool for tool in truth_record["tools"]}
    found = [name for name in live if name in static]
    row["live"] = len(live)
    row["static"] = len(static)
    row["found"] = len(found)
    row["extra"] = sorted(name for name in static if name not in live)
    row["missed"] = sorted(name for name in live if name not in static)
    row["description_same"] = sum(
        1 for name in found
        if description_hash(static[name].get("description")) == live[name]["description_sha256"])
    row["properties_same"] = sum(
        1 for name in found if tool_facts(static[name])["properties"] == live[name]["properties"])
    row["required_same"] = sum(
        1 for name in found if tool_facts(static[name])["required"] == live[name]["required"])
    reasons = []
    if row["missed"]:
        if not static and not unread:
            reasons.append("nothing read, nothing reported")
        reasons.extend(unread[:3])
        reasons.extend(s for s in skipped if "MB" in s or "size" in s)
    row["reasons"] = reasons[:4]
    return row


def ratio(part, whole):
    return part / whole if whole else float("nan")


def pct(value):
    return "—" if value != value else f"{value:.1%}"


def eval_(args):
    mcpwarden = binary()
    rows = []
    no_truth = []
    chosen = servers(args.only, args.subset, args.ecosystem)
    jobs = []
    for server in chosen:
        path = TRUTH / f"{safe_name(server['id'])}.json"
        if not path.is_file():
            no_truth.append(server["id"])
            continue
        record = json.loads(path.read_text())
        if "error" in record:
            no_truth.append(server["id"])
            continue
        jobs.append((server, record))
    started = time.time()
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(compare, server, record, mcpwarden): server for server, record in jobs}
        for future in concurrent.futures.as_completed(futures):
            server = futures[future]
            try:
                rows.append(future.result())
            except Exception as error:
                rows.append({"id": server["id"], "style": server.get("style", "?"), "error": str(error)[:300]})
    elapsed = time.time() - started
    rows.sort(key=lambda row: row["id"])
    totals = summarise([row for row in rows if "error" not in row])
    by_ecosystem = {
        eco: summarise([row for row in rows if "error" not in row and row["id"].startswith(eco + "/")])
        for eco in ("npm", "pypi")
    }
    report = render(rows, totals, by_ecosystem, no_truth, elapsed)
    print(report)
    if args.markdown:
        Path(args.markdown).write_text(report + "\n")
    if args.floors:
        scope = args.subset or "all"
        floors = tomllib.loads((CORPUS / "floors.toml").read_text()).get(scope)
        if floors is None:
            sys.exit(f"corpus/floors.toml has no [{scope}] table")
        failed = [f"{scope} {key} {totals[key]:.3f} < floor {value}" for key, value in floors.items()
                  if key in totals and not totals[key] >= value]
        failed += [f"{row['id']}: {row['error']}" for row in rows if "error" in row]
        if failed:
            print("FLOORS FAILED:\n  " + "\n  ".join(failed))
            sys.exit(1)


def summarise(rows):
    live = sum(row["live"] for row in rows)
    found = sum(row["found"] for row in rows)
    static = sum(row["static"] for row in rows)
    extra = sum(len(row["extra"]) for row in rows)
    return {
        "servers": len(rows),
        "live_tools": live,
        "recall": ratio(found, live),
        "precision": ratio(static - extra, static),
        "description_fidelity": ratio(sum(row["description_same"] for row in rows), found),
        "property_fidelity": ratio(sum(row["properties_same"] for row in rows), found),
        "required_fidelity": ratio(sum(row["required_same"] for row in rows), found),
        "servers_complete": sum(1 for row in rows if not row["missed"]),
    }


def render(rows, totals, by_ecosystem, no_truth, elapsed):
    out = ["# Static extraction on the real-world corpus", ""]
    out.append(f"{time.strftime('%Y-%m-%d', time.gmtime())}, `scripts/corpus.py eval`: "
               f"{totals['servers']} servers with live truth, {totals['live_tools']} live tools, "
               f"{elapsed:.0f} s wall (downloads cached).")
    out.append("")
    out.append("| scope | servers | live tools | recall | precision | description same | "
               "properties same | required same | servers complete |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    for name, t in [("all", totals)] + list(by_ecosystem.items()):
        out.append(f"| {name} | {t['servers']} | {t['live_tools']} | {pct(t['recall'])} | "
                   f"{pct(t['precision'])} | {pct(t['description_fidelity'])} | "
                   f"{pct(t['property_fidelity'])} | {pct(t['required_fidelity'])} | "
                   f"{t['servers_complete']} |")
    out.append("")
    out.append("Per server, *same* counts the found tools whose description, property names and required "
               "list equal the live ones (blank when all do).")
    out.append("")
    out.append("| server | style | live | static | found | same (desc/props/req) | missed | extra | "
               "reason for misses |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        if "error" in row:
            out.append(f"| {row['id']} | {row['style']} | | | | | | | error: {row['error']} |")
            continue
        missed = ", ".join(row["missed"][:6]) + (" …" if len(row["missed"]) > 6 else "")
        extra = ", ".join(row["extra"][:4]) + (" …" if len(row["extra"]) > 4 else "")
        reasons = "; ".join(r.replace("|", "/") for r in row["reasons"])
        same = (row["description_same"], row["properties_same"], row["required_same"])
        same = "" if same == (row["found"],) * 3 else "/".join(map(str, same))
        out.append(f"| {row['id']} | {row['style']} | {row['live']} | {row['static']} | "
                   f"{row['found']} | {same} | {missed} | {extra} | {reasons} |")
    if no_truth:
        out.append("")
        out.append(f"No live truth (did not start or list in the sandbox with dummy settings), "
                   f"{len(no_truth)}: " + ", ".join(no_truth))
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("truth", help="list each server live in the sandbox")
    t.add_argument("--only", type=lambda s: set(s.split(",")), default=None)
    t.add_argument("--jobs", type=int, default=2)
    e = sub.add_parser("eval", help="extract statically and compare with the truth")
    e.add_argument("--only", type=lambda s: set(s.split(",")), default=None)
    e.add_argument("--subset", default=None, help="only servers whose `subsets` name this")
    e.add_argument("--ecosystem", choices=("npm", "pypi"), default=None,
                   help="only servers of this ecosystem")
    e.add_argument("--jobs", type=int, default=2)
    e.add_argument("--floors", action="store_true")
    e.add_argument("--markdown", default=None)
    args = parser.parse_args()
    {"truth": truth, "eval": eval_}[args.command](args)


if __name__ == "__main__":
    main()
