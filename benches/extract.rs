//! Static extraction speed: (a) throughput in MB of source per second over the fixture
//! corpus (every language present), copied until it is a few MB; (b) the time to extract
//! one package whose `dist/` holds a 1 MB bundle. Targets: >= 20 MB/s and < 50 ms.
//! (c) throughput over real published MCP server packages (pinned npm tarballs and Python
//! wheels, fetched at bench time with the user's own `npm` and `pip` configuration into
//! `target/bench-packages/`, never committed), unpacked the way the crawler unpacks them.
//! The fixture corpus is the worst case (every file is nearly all registrations); the
//! real packages are what a crawl reads, where most bytes register nothing.
//! Run with `cargo bench --bench extract` (`-- real_packages` for (c) alone). Without
//! network on the first run, (c) is skipped with a message; later runs are offline.

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
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

/// Pinned npm packages of MCP servers: the official reference servers and a few popular
/// community ones (TypeScript compiled to `dist/`, some bundled).
const NPM_PACKAGES: &[&str] = &[
    "@modelcontextprotocol/server-everything@2026.8.31",
    "@modelcontextprotocol/server-filesystem@2026.8.31",
    "@modelcontextprotocol/server-memory@2026.8.31",
    "@modelcontextprotocol/server-sequential-thinking@2026.8.31",
    "@modelcontextprotocol/server-github@2025.4.8",
    "@modelcontextprotocol/server-puppeteer@2025.5.12",
    "@modelcontextprotocol/server-brave-search@0.6.2",
    "@modelcontextprotocol/server-slack@2025.4.25",
    "@playwright/mcp@0.0.83",
    "firecrawl-mcp@3.26.0",
    "@upstash/context7-mcp@4.1.1",
    "tavily-mcp@0.2.22",
    "mcp-server-kubernetes@4.1.7",
    "@notionhq/notion-mcp-server@2.5.2",
];

/// Pinned Python MCP servers, as wheels.
const PYTHON_PACKAGES: &[&str] = &[
    "mcp-server-fetch==2026.10.24",
    "mcp-server-git==2026.10.19",
    "mcp-server-time==2026.10.19",
    "mcp-server-qdrant==0.8.1",
    "awslabs.aws-documentation-mcp-server==1.2.3",
    "mcp-atlassian==0.23.1",
];

/// The file name stem `npm pack` gives a spec: `@scope/name@1.0.0` -> `scope-name-1.0.0`.
fn npm_stem(spec: &str) -> String {
    let spec = spec.trim_start_matches('@');
    let (name, version) = spec.rsplit_once('@').expect("pinned spec has a version");
    format!("{}-{version}", name.replace('/', "-"))
}

/// The start of the wheel name `pip download` writes for a spec (`a.b-c==1` -> `a_b_c-1`).
fn wheel_prefix(spec: &str) -> String {
    let (name, version) = spec.split_once("==").expect("pinned spec has a version");
    format!(
        "{}-{version}-",
        name.replace(['-', '.'], "_").to_lowercase()
    )
}

fn find_archive(folder: &Path, wanted: impl Fn(&str) -> bool) -> Option<PathBuf> {
    std::fs::read_dir(folder)
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| wanted(&name.to_lowercase()))
        })
}

/// Fetches (once) and returns the archives of the pinned packages that could be had.
/// A fetch that fails is reported and left out.
fn real_package_archives(folder: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(folder).expect("create target/bench-packages");
    let mut archives = Vec::new();
    for spec in NPM_PACKAGES {
        let file = format!("{}.tgz", npm_stem(spec));
        let path = folder.join(&file);
        if !path.exists() {
            let fetched = Command::new("npm")
                .args(["pack", spec, "--silent", "--pack-destination"])
                .arg(folder)
                .output();
            if !fetched.as_ref().is_ok_and(|out| out.status.success()) || !path.exists() {
                eprintln!(
                    "extract/real_packages: could not fetch {spec} with `npm pack`; left out"
                );
                continue;
            }
        }
        archives.push(path);
    }
    for spec in PYTHON_PACKAGES {
        let prefix = wheel_prefix(spec);
        let is_wheel = |name: &str| name.starts_with(&prefix) && name.ends_with(".whl");
        if find_archive(folder, is_wheel).is_none() {
            let _ = Command::new("pip")
                .args([
                    "download",
                    "--quiet",
                    "--no-deps",
                    "--only-binary=:all:",
                    "-d",
                ])
                .arg(folder)
                .arg(spec)
                .output();
        }
        match find_archive(folder, is_wheel) {
            Some(path) => archives.push(path),
            None => eprintln!(
                "extract/real_packages: could not fetch {spec} with `pip download`; left out"
            ),
        }
    }
    archives
}

/// Total size of the regular files under `root`.
fn tree_bytes(root: &Path) -> u64 {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_file())
        .filter_map(|entry| entry.metadata().ok())
        .map(|meta| meta.len())
        .sum()
}

/// Real packages, unpacked by the crawler's own unpacker under
/// `target/bench-packages/unpacked/` (kept, so `mcpwarden extract` can be timed on the
/// same tree), each extracted as the crawler extracts one package.
fn real_packages(c: &mut Criterion) {
    let options = Options::default();
    let folder = Path::new("target/bench-packages");
    let archives = real_package_archives(folder);
    if archives.is_empty() {
        eprintln!(
            "extract/real_packages: skipped, no package could be fetched (needs `npm` and \
             `pip` with network on the first run)"
        );
        return;
    }
    let unpacked = folder.join("unpacked");
    let mut roots = Vec::new();
    let (mut all_bytes, mut considered, mut parsed, mut tools) = (0u64, 0u64, 0usize, 0usize);
    eprintln!(
        "extract/real_packages: package, bytes unpacked, bytes considered, files considered, parsed, tools"
    );
    for archive in &archives {
        let stem = archive
            .file_name()
            .and_then(|name| name.to_str())
            .expect("archive names are UTF-8");
        let tree = unpacked.join(stem);
        if !tree.exists() {
            mcpwarden::crawl::unpack::unpack(
                archive,
                &tree,
                mcpwarden::crawl::unpack::UnpackLimits::default(),
            )
            .expect("pinned package unpacks");
        }
        let root = mcpwarden::extract::package_root(&tree);
        let found = extract_dir(&root, &options).expect("package extracts");
        let bytes = tree_bytes(&tree);
        eprintln!(
            "  {stem}: {bytes} / {} / {} / {} / {}",
            found.stats.bytes,
            found.stats.files_seen,
            found.stats.files_parsed,
            found.tool_count()
        );
        all_bytes += bytes;
        considered += found.stats.bytes;
        parsed += found.stats.files_parsed;
        tools += found.tool_count();
        roots.push(root);
    }
    eprintln!(
        "extract/real_packages: {} packages, {all_bytes} bytes unpacked, {considered} bytes \
         considered, {parsed} files parsed, {tools} tools; throughput below is over the \
         bytes considered",
        roots.len()
    );
    let mut group = c.benchmark_group("extract");
    group.throughput(Throughput::Bytes(considered));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("real_packages", |b| {
        b.iter(|| {
            for root in &roots {
                black_box(extract_dir(black_box(root), &options).expect("extracts"));
            }
        })
    });
    // A crawl extracts several packages at once (one blocking task per package, up to
    // `--concurrency`): the same 20 packages, all in flight together on rayon's pool, so a
    // package whose one big file keeps a core busy no longer leaves the other idle.
    group.bench_function("real_packages_concurrently", |b| {
        b.iter(|| {
            use rayon::prelude::*;
            roots.par_iter().for_each(|root| {
                black_box(extract_dir(black_box(root), &options).expect("extracts"));
            });
        })
    });
    group.finish();
}

criterion_group!(benches, extraction, real_packages);
criterion_main!(benches);
