//! Report speed: the whole site (index, 10,000 server pages, 100,000 tool pages, search
//! data) and the summary, from an on-disk catalogue of 100,000 classified tools across
//! 10,000 servers, with a recommended policy per server, into an empty folder and over an
//! earlier identical report. Target: under 10 s.
//!
//! Run: `cargo bench --bench report`. Numbers go in BENCHMARKS.md.

use std::io::Cursor;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use mcpwarden::catalog::{self, Catalog, ServerCard};
use mcpwarden::progress::NoProgress;
use mcpwarden::report::{self, ReportConfig};
use serde_json::{Value, json};

const SERVERS: usize = 10_000;
const TOOLS_PER_SERVER: usize = 10;

const VERBS: [&str; 10] = [
    "get", "list", "create", "update", "delete", "send", "run", "refund", "query", "upload",
];
const OBJECTS: [&str; 10] = [
    "file",
    "message",
    "issue",
    "repository",
    "invoice",
    "payment",
    "user",
    "table",
    "ticket",
    "pod",
];
const VERDICTS: [(&str, &str); 5] = [
    ("Read", "Low"),
    ("Write", "Medium"),
    ("Execute", "High"),
    ("Destructive", "Critical"),
    ("Financial", "Critical"),
];

/// The catalogue as JSON Lines: names recur across servers, as in real crawls.
fn synthetic_catalogue() -> String {
    let mut out = String::new();
    for s in 0..SERVERS {
        let tools: Vec<Value> = (0..TOOLS_PER_SERVER)
            .map(|t| {
                let verb = VERBS[(s + t) % VERBS.len()];
                let object = OBJECTS[(s * 7 + t) % OBJECTS.len()];
                let (category, risk) = VERDICTS[(s + t) % VERDICTS.len()];
                json!({
                    "name": format!("{verb}_{object}_{t}"),
                    "description": format!("{verb} a {object} in the service. Returns the {object} as JSON with its id, owner and timestamps."),
                    "input_schema": {"type": "object", "properties": {
                        "id": {"type": "string", "description": format!("The {object} id")},
                        "owner": {"type": "string"},
                        "limit": {"type": "integer"}
                    }, "required": ["id"]},
                    "classification": {
                        "category": category, "risk": risk,
                        "signals": [{"name": "verb", "evidence": verb}],
                        "rationale": format!("The name says {verb} (\"{verb} a {object}\")."),
                        "rule_ids": ["bench.verb"],
                        "findings": [],
                        "confidence": 0.8, "version": "bench"
                    }
                })
            })
            .collect();
        let line = json!({
            "name": format!("io.github.owner{}/server-{s}", s % 997),
            "description": "A synthetic server.",
            "tools": tools,
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

/// A policy of the generated shape: every tool named, Destructive ones hidden.
fn policy_for(server: &ServerCard) -> Option<Value> {
    let mut tools = serde_json::Map::new();
    let mut hide = Vec::new();
    for tool in &server.tools {
        match tool.classification.as_ref().map(|c| c.category.as_str()) {
            Some("Destructive") => hide.push(json!(tool.tool.name)),
            Some("Execute") => {
                tools.insert(
                    tool.tool.name.clone(),
                    json!({"limits": [{"counter": "exec", "window": "minute", "max": 10, "scope": "grant"}]}),
                );
            }
            _ => {
                tools.insert(tool.tool.name.clone(), json!({}));
            }
        }
    }
    Some(json!({"version": "1", "default": "deny", "hide": hide, "tools": tools}))
}

fn bench_report(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut catalog = Catalog::open(&dir.path().join("catalog.db")).expect("catalogue");
    let lines = synthetic_catalogue();
    let imported =
        catalog::import_jsonl(&mut catalog, Cursor::new(lines), &NoProgress).expect("import");
    assert!(imported.errors.is_empty());

    let config = ReportConfig {
        out_dir: dir.path().join("site"),
        summary_path: Some(dir.path().join("summary.md")),
    };
    let mut group = c.benchmark_group("report");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(60));
    let run = || {
        let summary =
            report::generate(&catalog, &config, &policy_for, &NoProgress).expect("report");
        assert_eq!(summary.tools, (SERVERS * TOOLS_PER_SERVER) as u64);
    };
    // Into an empty folder: every page is created. Removing the previous iteration's
    // 110,000 files is setup, not timed (its disk writeback can still slow the next run).
    group.bench_function("fresh_100k_tools_10k_servers", |b| {
        b.iter_batched(
            || {
                let _ = std::fs::remove_dir_all(&config.out_dir);
            },
            |()| run(),
            BatchSize::PerIteration,
        )
    });
    // Over the previous, identical report: pages are compared and left alone.
    group.bench_function("rerun_100k_tools_10k_servers", |b| b.iter(run));
    group.finish();
}

criterion_group!(benches, bench_report);
criterion_main!(benches);
