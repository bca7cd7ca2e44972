//! Classifier throughput in tools per second: the labelled set (522 hand-written tools in
//! the shapes real servers use) repeated to 100,000 tools. Target: ≥ 500,000 tools/s on
//! 2 cores.
//!
//! - `classify_100k_parallel_chunks` runs the product's path: what `mcpwarden classify`
//!   (`Catalog::classify_in_chunks`) does minus SQLite. Chunks of
//!   [`CHUNK`](mcpwarden::commands::classify::CHUNK) tools go through
//!   `RuleSet::classify_tools` (rayon, every core), which makes every full verdict (signals,
//!   rationale, rule ids, findings); each chunk's verdicts are then freed, as the
//!   catalogue's writer frees each chunk's rows once written.
//! - `classify_100k_one_thread` classifies one tool at a time on this thread and keeps
//!   only its risk: the per-tool cost with a hot cache and nothing kept.
//!
//! Until session 5 the parallel case was `classify_all_100k_parallel`: `classify_all` over
//! all 100,000 tools at once, a `definition_hash` clone per tool and 100,000 verdicts
//! collected into one 16.8 MB `Vec` and then freed on this one thread. The product has not
//! done that since `classify` began to stream (second pass); see BENCHMARKS.md.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mcpwarden::catalog::ToolForClassification;
use mcpwarden::classify::RuleSet;
use mcpwarden::commands::classify::CHUNK;
use mcpwarden::model::ToolDef;

/// The allocator the `mcpwarden` binary uses (src/main.rs), so the bench measures what
/// `classify` and `crawl` run with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TOOLS: usize = 100_000;

fn corpus() -> Vec<ToolForClassification> {
    let labels: Vec<serde_json::Value> = include_str!("../tests/data/labels/tools.jsonl")
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    (0..TOOLS)
        .map(|index| {
            let label = &labels[index % labels.len()];
            let text = |key: &str| label[key].as_str().unwrap_or_default().to_owned();
            let mut tool = ToolDef::new(text("name"), text("description"));
            tool.input_schema = label["input_schema"].clone();
            tool.annotations = label.get("annotations").filter(|a| !a.is_null()).cloned();
            ToolForClassification {
                tool_id: index as i64,
                server_name: text("server"),
                server_description: Some(text("server_description")),
                definition_hash: format!("sha256:{index:064x}"),
                tool,
            }
        })
        .collect()
}

fn classify(c: &mut Criterion) {
    let rules = RuleSet::embedded().expect("the embedded rules are valid");
    let tools = corpus();
    let mut group = c.benchmark_group("classify");
    group.throughput(Throughput::Elements(TOOLS as u64));
    group.sample_size(20);
    group.bench_function("classify_100k_parallel_chunks", |b| {
        b.iter(|| {
            let mut classified = 0;
            for chunk in tools.chunks(CHUNK) {
                let verdicts = rules.classify_tools(chunk);
                classified += verdicts.len();
            }
            classified
        })
    });
    group.bench_function("classify_100k_one_thread", |b| {
        b.iter(|| {
            tools
                .iter()
                .map(|item| rules.classify_item(item).risk)
                .filter(|risk| *risk == mcpwarden::model::Risk::Critical)
                .count()
        })
    });
    group.finish();
}

criterion_group!(benches, classify);
criterion_main!(benches);
