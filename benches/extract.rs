//! Static extraction speed: (a) throughput in MB of source per second over the fixture
//! corpus (every language present), copied until it is a few MB; (b) the time to extract
//! one package whose `dist/` holds a 1 MB bundle. Targets: >= 20 MB/s and < 50 ms.
//! Run with `cargo bench --bench extract`.

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mcpwarden::extract::{Options, extract_dir};

/// The corpus is copied this many times (each copy a separate server folder), about
/// 4 MB with the TS/JS fixtures alone.
const CORPUS_COPIES: usize = 40;

/// Size of the synthetic bundle.
const BUNDLE_BYTES: usize = 1024 * 1024;

fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.expect("fixture tree is readable");
        let relative = entry.path().strip_prefix(from).expect("inside the tree");
        let target = to.join(relative);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).expect("create folder");
        } else if entry.file_type().is_file() {
            std::fs::copy(entry.path(), &target).expect("copy fixture file");
        }
    }
}

/// A 1 MB ESM bundle in the shape esbuild writes: many modules of ordinary application
/// code (helpers, classes, config objects, Zod schemas that register nothing), with the
/// four tool registrations of the `js-bundle-esm` fixture at the end.
fn synthetic_bundle() -> String {
    let tools = std::fs::read_to_string("tests/fixtures/servers/js-bundle-esm/dist/index.js")
        .expect("the js-bundle-esm fixture is built");
    let mut bundle = String::with_capacity(BUNDLE_BYTES + tools.len());
    bundle.push_str("import { z } from \"zod\";\n");
    let mut module = 0usize;
    while bundle.len() < BUNDLE_BYTES {
        module += 1;
        let _ = write!(
            bundle,
            r#"
// src/lib/module-{module}.ts
var DEFAULTS{module} = {{ retries: 3, timeoutMs: 30000, label: "module {module}", tags: ["a", "b", "c"] }};
var Settings{module}Schema = z.object({{
  endpoint: z.string().url().describe("Endpoint of service {module}"),
  retries: z.number().int().min(0).max(10).default(3),
  verbose: z.boolean().optional()
}});
function normalize{module}(input, options = DEFAULTS{module}) {{
  const out = [];
  for (let i = 0; i < input.length; i++) {{
    const value = typeof input[i] === "string" ? input[i].trim() : String(input[i]);
    if (value.length > 0 && !out.includes(value)) out.push(value);
  }}
  return out.slice(0, options.retries * 10);
}}
var Cache{module} = class {{
  #entries = new Map();
  constructor(limit = 100) {{ this.limit = limit; }}
  get(key) {{ return this.#entries.get(key); }}
  set(key, value) {{
    if (this.#entries.size >= this.limit) this.#entries.delete(this.#entries.keys().next().value);
    this.#entries.set(key, value);
    return this;
  }}
}};
async function fetchWithRetry{module}(url, init = {{}}) {{
  let lastError;
  for (let attempt = 0; attempt < DEFAULTS{module}.retries; attempt++) {{
    try {{
      const response = await fetch(url, {{ ...init, signal: AbortSignal.timeout(DEFAULTS{module}.timeoutMs) }});
      if (!response.ok) throw new Error(`HTTP ${{response.status}} from ${{url}}`);
      return await response.json();
    }} catch (error) {{
      lastError = error;
      await new Promise((resolve) => setTimeout(resolve, 2 ** attempt * 100));
    }}
  }}
  throw lastError;
}}
"#
        );
    }
    bundle.push_str(&tools);
    bundle
}

fn extraction(c: &mut Criterion) {
    let options = Options::default();

    let corpus = tempfile::tempdir().expect("temporary folder");
    for copy in 0..CORPUS_COPIES {
        copy_tree(
            Path::new("tests/fixtures/servers"),
            &corpus.path().join(format!("copy-{copy}")),
        );
    }
    let first = extract_dir(corpus.path(), &options).expect("corpus extracts");
    assert!(first.tool_count() > 0, "the corpus holds tools");
    let mut group = c.benchmark_group("extract");
    group.throughput(Throughput::Bytes(first.stats.bytes));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("corpus_throughput", |b| {
        b.iter(|| extract_dir(black_box(corpus.path()), &options).expect("extracts"))
    });
    group.finish();

    let package = tempfile::tempdir().expect("temporary folder");
    std::fs::write(
        package.path().join("package.json"),
        r#"{"name": "bundled-server", "version": "1.0.0", "type": "module"}"#,
    )
    .expect("write package.json");
    std::fs::create_dir_all(package.path().join("dist")).expect("create dist");
    let bundle = synthetic_bundle();
    std::fs::write(package.path().join("dist/index.js"), &bundle).expect("write bundle");
    let found = extract_dir(package.path(), &options).expect("bundle extracts");
    assert_eq!(found.tool_count(), 4, "the bundle's four tools are found");
    let mut group = c.benchmark_group("extract");
    group.sample_size(20);
    group.bench_function("package_with_1mb_bundle", |b| {
        b.iter(|| extract_dir(black_box(package.path()), &options).expect("extracts"))
    });
    group.finish();
}

criterion_group!(benches, extraction);
criterion_main!(benches);
