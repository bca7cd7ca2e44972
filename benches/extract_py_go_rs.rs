//! Static extraction speed for Python, Go, Rust and MCPB manifests: MB of source per
//! second over a tree of tool-dense servers (the corpus fixtures' sources copied 40 times
//! under distinct folders, so every file passes the prefilter and is parsed), and the time
//! for one fixture server. Target from issue 8: at least 20 MB/s.
//!
//! Run: `cargo bench --bench extract_py_go_rs`. Numbers go in BENCHMARKS.md.

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mcpwarden::extract::{Options, extract_dir};

const COPIES: usize = 40;
const PREFIXES: &[&str] = &["py-", "go-", "rs-", "mcpb-"];

fn fixtures() -> Vec<PathBuf> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/servers");
    let mut found: Vec<PathBuf> = std::fs::read_dir(corpus)
        .expect("the fixture corpus exists")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            PREFIXES.iter().any(|prefix| name.starts_with(prefix))
        })
        .collect();
    found.sort();
    found
}

fn copy_tree(from: &Path, to: &Path) -> u64 {
    let mut bytes = 0;
    for entry in walkdir::WalkDir::new(from)
        .into_iter()
        .filter_map(Result::ok)
    {
        let relative = entry.path().strip_prefix(from).unwrap_or(entry.path());
        let target = to.join(relative);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).expect("create folder");
        } else if entry.file_type().is_file() && entry.file_name() != "expected.json" {
            std::fs::copy(entry.path(), &target).expect("copy file");
            let name = entry.file_name().to_string_lossy();
            if [".py", ".go", ".rs", "manifest.json"]
                .iter()
                .any(|suffix| name.ends_with(suffix))
            {
                bytes += entry.metadata().map(|meta| meta.len()).unwrap_or(0);
            }
        }
    }
    bytes
}

fn bench(c: &mut Criterion) {
    let scratch = tempfile::tempdir().expect("temporary folder");
    let mut source_bytes = 0;
    for copy in 0..COPIES {
        for fixture in fixtures() {
            let name = fixture
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            source_bytes += copy_tree(&fixture, &scratch.path().join(format!("{name}-{copy}")));
        }
    }
    let options = Options::default();
    let tools = extract_dir(scratch.path(), &options)
        .expect("extraction succeeds")
        .tool_count();
    eprintln!(
        "tree: {} copies, {:.2} MB of source, {tools} tools",
        COPIES,
        source_bytes as f64 / 1e6
    );

    let mut group = c.benchmark_group("extract_py_go_rs");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Bytes(source_bytes));
    group.bench_function("tree", |b| {
        b.iter(|| extract_dir(scratch.path(), &options).expect("extraction succeeds"))
    });
    group.finish();

    let one =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/servers/py-postgres-admin");
    c.bench_function("extract_py_go_rs/one_python_server", |b| {
        b.iter(|| extract_dir(&one, &options).expect("extraction succeeds"))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
