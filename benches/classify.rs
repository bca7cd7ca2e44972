//! Classifier throughput in tools per second: the labelled set (522 hand-written tools in
//! the shapes real servers use) repeated to 100,000 tools, classified by `classify_all`
//! (rayon, every core) and by one thread. Target: ≥ 500,000 tools/s on 2 cores.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mcpwarden::catalog::ToolForClassification;
use mcpwarden::classify::{RuleSet, ServerContext};
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
    group.bench_function("classify_all_100k_parallel", |b| {
        b.iter(|| rules.classify_all(&tools))
    });
    group.bench_function("classify_100k_one_thread", |b| {
        b.iter(|| {
            tools
                .iter()
                .map(|item| {
                    let context = ServerContext {
                        name: &item.server_name,
                        description: item.server_description.as_deref().unwrap_or(""),
                    };
                    rules.classify(&item.tool, &context).risk
                })
                .filter(|risk| *risk == mcpwarden::model::Risk::Critical)
                .count()
        })
    });
    group.finish();
}

criterion_group!(benches, classify);
criterion_main!(benches);
