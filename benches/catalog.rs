//! Catalogue speed: importing 100,000 tools across 10,000 servers into an empty on-disk
//! catalogue (target < 3 s), and `show` against it (target < 20 ms).
//!
//! Run: `cargo bench --bench catalog`. Numbers go in BENCHMARKS.md.

use std::io::Cursor;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use mcpwarden::catalog::{self, Catalog};
use mcpwarden::progress::NoProgress;
use serde_json::json;

const SERVERS: usize = 10_000;
const TOOLS_PER_SERVER: usize = 10;

const VERBS: [&str; 20] = [
    "get", "list", "search", "create", "update", "delete", "send", "run", "read", "write", "fetch",
    "set", "remove", "start", "stop", "query", "upload", "download", "sync", "open",
];
const OBJECTS: [&str; 50] = [
    "file",
    "message",
    "issue",
    "repository",
    "branch",
    "commit",
    "user",
    "channel",
    "page",
    "record",
    "table",
    "row",
    "bucket",
    "object",
    "invoice",
    "payment",
    "refund",
    "customer",
    "order",
    "ticket",
    "event",
    "calendar",
    "email",
    "draft",
    "note",
    "task",
    "project",
    "document",
    "folder",
    "image",
    "video",
    "playlist",
    "secret",
    "key",
    "token",
    "cluster",
    "pod",
    "deployment",
    "service",
    "container",
    "volume",
    "snapshot",
    "database",
    "index",
    "query",
    "report",
    "dashboard",
    "alert",
    "webhook",
    "agent",
];

/// A JSON Lines catalogue in the shape a crawl produces: realistic names that recur
/// across servers, schemas with a few parameters, descriptions of a sentence or two.
fn synthetic_catalogue() -> String {
    let mut out = String::with_capacity(60 * 1024 * 1024);
    for server in 0..SERVERS {
        let tools: Vec<_> = (0..TOOLS_PER_SERVER)
            .map(|index| {
                let n = server * TOOLS_PER_SERVER + index;
                let verb = VERBS[n % VERBS.len()];
                let object = OBJECTS[(n / VERBS.len() + server) % OBJECTS.len()];
                json!({
                    "name": format!("{verb}_{object}"),
                    "description": format!("{verb} a {object} in the service of server {server}. Returns the {object} as JSON."),
                    "input_schema": {
                        "type": "object",
                        "properties": {
                            "id": {"type": "string", "description": format!("The {object} id")},
                            "limit": {"type": "integer", "maximum": 100},
                            "dry_run": {"type": "boolean"}
                        },
                        "required": ["id"]
                    },
                    "method": "static-ts",
                    "location": format!("src/tools/{object}.ts:{}", 10 + index * 7),
                    "confidence": 0.9
                })
            })
            .collect();
        let line = json!({
            "name": format!("io.github.owner{server}/service-{server}-mcp"),
            "description": format!("MCP server number {server}"),
            "repository": format!("https://github.com/owner{server}/service-{server}-mcp"),
            "packages": [format!("pkg:npm/service-{server}-mcp@1.0.0")],
            "stars": server % 997,
            "sources": [{"source": "registry", "id": format!("id-{server}")}],
            "tools": tools,
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

fn benches(c: &mut Criterion) {
    let input = synthetic_catalogue();

    let mut group = c.benchmark_group("catalog");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(40));
    group.bench_function(
        "import 100k tools / 10k servers into an empty on-disk catalogue",
        |b| {
            b.iter_batched(
                || tempfile::tempdir().expect("temp dir"),
                |dir| {
                    let mut catalog = Catalog::open(&dir.path().join("bench.db")).expect("open");
                    let report = catalog::import_jsonl(
                        &mut catalog,
                        Cursor::new(input.as_bytes()),
                        &NoProgress,
                    )
                    .expect("import");
                    assert_eq!(report.stored.inserted, SERVERS);
                    dir
                },
                BatchSize::PerIteration,
            );
        },
    );
    group.finish();

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.db");
    let mut catalog = Catalog::open(&path).expect("open");
    catalog::import_jsonl(&mut catalog, Cursor::new(input.as_bytes()), &NoProgress)
        .expect("import");
    drop(catalog);
    let catalog = Catalog::open(&path).expect("reopen");

    let mut group = c.benchmark_group("show");
    group.bench_function("tool name shared by ~100 servers (send-message)", |b| {
        b.iter(|| {
            let hits = catalog.find_tools("send-message").expect("find");
            assert!(!hits.is_empty());
            hits
        });
    });
    group.bench_function("server name (last segment)", |b| {
        b.iter(|| {
            let hits = catalog.find_servers("service-4242-mcp").expect("find");
            assert_eq!(hits.len(), 1);
            hits
        });
    });
    group.bench_function("miss, with closest-name suggestions", |b| {
        b.iter(|| {
            assert!(catalog.find_tools("sned_mesage").expect("find").is_empty());
            catalog.closest_names("sned_mesage", 5).expect("suggest")
        });
    });
    group.finish();

    let mut group = c.benchmark_group("import again");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    let mut catalog = Catalog::open(&path).expect("reopen");
    group.bench_function("re-import of the same 100k tools (all unchanged)", |b| {
        b.iter(|| {
            let report =
                catalog::import_jsonl(&mut catalog, Cursor::new(input.as_bytes()), &NoProgress)
                    .expect("import");
            assert_eq!(report.stored.unchanged, SERVERS);
        });
    });
    group.finish();
}

criterion_group!(catalog_benches, benches);
criterion_main!(catalog_benches);
