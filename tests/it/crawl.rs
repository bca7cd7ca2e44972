//! The crawl engine against fixture registries on 127.0.0.1: merging sightings across
//! sources, unreachable sources, failed items, and resuming a crawl killed half-way.
//! Every wait here is bounded.

use std::collections::HashMap;
use std::future::pending;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use mcpwarden::catalog::Catalog;
use mcpwarden::crawl::engine::{CrawlConfig, Source, crawl};
use mcpwarden::crawl::http::HttpConfig;
use mcpwarden::progress::NoProgress;
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Fixture {
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    asked: Arc<Mutex<Vec<String>>>,
    /// When set, package documents after the first `open_budget` hang (a crawl to kill).
    hang_after: Arc<AtomicBool>,
    served: Arc<AtomicUsize>,
}

const OPEN_BUDGET: usize = 2;

async fn start(fixture: Fixture) -> String {
    let app = Router::new()
        .fallback(|State(fixture): State<Fixture>, uri: Uri| async move {
            let path = uri.path().to_owned();
            fixture.asked.lock().unwrap().push(path.clone());
            let body = fixture.files.lock().unwrap().get(&path).cloned();
            let Some(body) = body else {
                return StatusCode::NOT_FOUND.into_response();
            };
            if path.starts_with("/pkg-")
                && fixture.hang_after.load(Ordering::SeqCst)
                && fixture.served.fetch_add(1, Ordering::SeqCst) >= OPEN_BUDGET
            {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            body.into_response()
        })
        .with_state(fixture);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

fn registry_entry(name: &str, repository: &str, subfolder: Option<&str>, package: Value) -> Value {
    json!({
        "server": {
            "name": name,
            "description": format!("{name} server"),
            "repository": {"url": repository, "source": "github", "subfolder": subfolder},
            "packages": [package]
        },
        "_meta": {"io.modelcontextprotocol.registry/official": {"status": "active", "updatedAt": "2026-05-01T00:00:00Z"}}
    })
}

fn packument(name: &str, repository: &str) -> Vec<u8> {
    json!({
        "name": name,
        "dist-tags": {"latest": "1.0.0"},
        "versions": {"1.0.0": {
            "description": format!("{name} from npm"),
            "repository": {"type": "git", "url": repository},
            "license": "MIT",
            "dist": {"tarball": "http://127.0.0.1:1/unused.tgz"}
        }}
    })
    .to_string()
    .into_bytes()
}

fn quick_http() -> HttpConfig {
    HttpConfig {
        max_retries: 1,
        base_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        timeout: Duration::from_secs(5),
        ..HttpConfig::default()
    }
}

fn shared(catalog: Catalog) -> Arc<Mutex<Catalog>> {
    Arc::new(Mutex::new(catalog))
}

#[tokio::test]
async fn sightings_from_several_sources_merge_into_one_server() {
    let fixture = Fixture::default();
    let base = start(fixture.clone()).await;
    let page = json!({
        "servers": [
            registry_entry("io.github.acme/notes", "https://github.com/acme/notes", None,
                           json!({"registryType": "npm", "identifier": "@acme/notes", "version": "1.0.0"})),
            // Two servers of one monorepo stay two servers.
            registry_entry("io.github.acme/tools-git", "https://github.com/acme/tools", Some("src/git"),
                           json!({"registryType": "pypi", "identifier": "acme-git", "version": "0.1"})),
            registry_entry("io.github.acme/tools-time", "https://github.com/acme/tools", Some("src/time"),
                           json!({"registryType": "pypi", "identifier": "acme-time", "version": "0.1"})),
            // Regression: OCI names with a literal `@` once all reduced to `pkg:oci/` and merged.
            registry_entry("io.github.one/a", "https://github.com/one/a", None,
                           json!({"registryType": "oci", "identifier": "@one/a", "version": "1"})),
            registry_entry("io.github.two/b", "https://github.com/two/b", None,
                           json!({"registryType": "oci", "identifier": "@two/b", "version": "1"})),
        ],
        "metadata": {}
    });
    {
        let mut files = fixture.files.lock().unwrap();
        files.insert("/v0.1/servers".to_owned(), page.to_string().into_bytes());
        // npm names the same repository in another spelling.
        files.insert(
            "/@acme%2Fnotes".to_owned(),
            packument("@acme/notes", "git+https://github.com/ACME/notes.git"),
        );
    }
    let catalog = shared(Catalog::open_in_memory().unwrap());
    let config = CrawlConfig {
        sources: vec![Source::Registry, Source::Npm],
        registry_url: base.clone(),
        npm_registry: Some(base.clone()),
        http: quick_http(),
        ..CrawlConfig::default()
    };
    let summary = crawl(catalog.clone(), config, &NoProgress, pending())
        .await
        .unwrap();
    assert_eq!(summary.status, "finished");
    assert!(!summary.has_problems(), "{summary:?}");
    assert_eq!(summary.sources["registry"].stored, 5);
    assert_eq!(
        summary.sources["npm"].discovered, 1,
        "npm names come from the registry's packages"
    );
    assert_eq!(summary.sources["npm"].stored, 1);

    let catalog = catalog.lock().unwrap();
    assert_eq!(
        catalog.stats().unwrap().servers,
        5,
        "the npm sighting merged; nothing else did"
    );
    let notes = catalog
        .find_servers("io.github.acme/notes")
        .unwrap()
        .remove(0);
    let sources: Vec<&str> = notes
        .record
        .sources
        .iter()
        .map(|s| s.source.as_str())
        .collect();
    assert_eq!(sources, ["npm", "registry"]);
    assert_eq!(
        notes.record.license.as_deref(),
        Some("MIT"),
        "npm filled in what the registry lacked"
    );
    let git = catalog
        .find_servers("io.github.acme/tools-git")
        .unwrap()
        .remove(0);
    assert_eq!(
        git.record.repository.as_deref(),
        Some("https://github.com/acme/tools/tree/HEAD/src/git")
    );
}

#[tokio::test]
async fn packages_of_one_monorepo_stay_separate_servers() {
    let fixture = Fixture::default();
    let base = start(fixture.clone()).await;
    let with_directory = |name: &str, directory: &str| {
        json!({
            "name": name, "dist-tags": {"latest": "1.0.0"},
            "versions": {"1.0.0": {
                "repository": {"type": "git", "url": "https://github.com/acme/servers.git", "directory": directory},
                "dist": {"tarball": "http://127.0.0.1:1/unused.tgz"}
            }}
        })
        .to_string()
        .into_bytes()
    };
    {
        let mut files = fixture.files.lock().unwrap();
        // Two packages that name only the repository, one that names its folder too.
        files.insert(
            "/@acme%2Fserver-a".to_owned(),
            packument("@acme/server-a", "https://github.com/acme/servers"),
        );
        files.insert(
            "/@acme%2Fserver-b".to_owned(),
            packument("@acme/server-b", "https://github.com/acme/servers"),
        );
        files.insert(
            "/@acme%2Fserver-c".to_owned(),
            with_directory("@acme/server-c", "src/c"),
        );
    }
    let catalog = shared(Catalog::open_in_memory().unwrap());
    let config = CrawlConfig {
        sources: vec![Source::Npm],
        npm_registry: Some(base.clone()),
        npm_packages: vec![
            "@acme/server-a".into(),
            "@acme/server-b".into(),
            "@acme/server-c".into(),
        ],
        concurrency: 1,
        http: quick_http(),
        ..CrawlConfig::default()
    };
    let summary = crawl(catalog.clone(), config.clone(), &NoProgress, pending())
        .await
        .unwrap();
    assert_eq!(summary.sources["npm"].stored, 3);
    {
        let catalog_guard = catalog.lock().unwrap();
        assert_eq!(
            catalog_guard.stats().unwrap().servers,
            3,
            "siblings are not merged"
        );
        let c = catalog_guard
            .find_servers("@acme/server-c")
            .unwrap()
            .remove(0);
        assert_eq!(
            c.record.repository.as_deref(),
            Some("https://github.com/acme/servers/tree/HEAD/src/c")
        );
    }
    // Crawling the same packages again merges each into itself: still three.
    crawl(catalog.clone(), config, &NoProgress, pending())
        .await
        .unwrap();
    assert_eq!(catalog.lock().unwrap().stats().unwrap().servers, 3);
}

#[tokio::test]
async fn an_unreachable_source_is_reported_and_the_others_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let seeds = dir.path().join("seeds.jsonl");
    std::fs::write(
        &seeds,
        "{\"name\": \"acme/one\", \"repository\": \"https://github.com/acme/one\"}\nnot json\n{\"name\": \"acme/two\"}\n",
    )
    .unwrap();
    let catalog = shared(Catalog::open_in_memory().unwrap());
    let config = CrawlConfig {
        sources: vec![Source::Registry, Source::Seeds],
        registry_url: "http://127.0.0.1:9".to_owned(),
        seed_files: vec![seeds],
        http: quick_http(),
        ..CrawlConfig::default()
    };
    let summary = crawl(catalog.clone(), config, &NoProgress, pending())
        .await
        .unwrap();
    assert!(summary.has_problems());
    let registry = &summary.sources["registry"];
    assert!(
        registry
            .unreachable
            .as_deref()
            .unwrap()
            .contains("could not connect"),
        "{registry:?}"
    );
    let seeds = &summary.sources["seeds"];
    assert_eq!((seeds.discovered, seeds.stored, seeds.failed), (2, 2, 1));
    assert!(seeds.errors[0].contains("seeds.jsonl:2:"), "{seeds:?}");
    assert_eq!(catalog.lock().unwrap().stats().unwrap().servers, 2);
}

#[tokio::test]
async fn a_failed_item_is_counted_quoted_and_retried_by_the_next_resume() {
    let fixture = Fixture::default();
    let base = start(fixture.clone()).await;
    fixture.files.lock().unwrap().insert(
        "/pkg-good".to_owned(),
        packument("pkg-good", "https://github.com/acme/good"),
    );
    let catalog = shared(Catalog::open_in_memory().unwrap());
    let config = CrawlConfig {
        sources: vec![Source::Npm],
        npm_registry: Some(base.clone()),
        npm_packages: vec!["pkg-good".to_owned(), "pkg-missing".to_owned()],
        http: quick_http(),
        ..CrawlConfig::default()
    };
    let summary = crawl(catalog.clone(), config.clone(), &NoProgress, pending())
        .await
        .unwrap();
    let npm = &summary.sources["npm"];
    assert_eq!((npm.stored, npm.failed), (1, 1));
    assert!(npm.errors[0].starts_with("pkg-missing: "), "{npm:?}");
    assert!(npm.errors[0].contains("404"), "{npm:?}");
    // The run "finished" with a failure; the failed item is retried on resume, once it exists.
    fixture.files.lock().unwrap().insert(
        "/pkg-missing".to_owned(),
        packument("pkg-missing", "https://github.com/acme/missing"),
    );
    catalog
        .lock()
        .unwrap()
        .finish_crawl_run(summary.run_id, "interrupted", &json!({}))
        .unwrap();
    let resumed = crawl(
        catalog.clone(),
        CrawlConfig {
            resume: true,
            ..config
        },
        &NoProgress,
        pending(),
    )
    .await
    .unwrap();
    assert_eq!(resumed.sources["npm"].stored, 1);
    assert_eq!(catalog.lock().unwrap().stats().unwrap().servers, 2);
}

#[tokio::test]
async fn a_crawl_killed_half_way_resumes_with_only_what_is_left() {
    let fixture = Fixture::default();
    let base = start(fixture.clone()).await;
    let names: Vec<String> = (0..6).map(|i| format!("pkg-{i}")).collect();
    for name in &names {
        fixture.files.lock().unwrap().insert(
            format!("/{name}"),
            packument(name, &format!("https://github.com/acme/{name}")),
        );
    }
    fixture.hang_after.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    let config = CrawlConfig {
        sources: vec![Source::Npm],
        npm_registry: Some(base.clone()),
        npm_packages: names.clone(),
        concurrency: 1,
        http: quick_http(),
        ..CrawlConfig::default()
    };

    let catalog = shared(Catalog::open(&path).unwrap());
    let first = tokio::spawn(crawl(
        catalog.clone(),
        config.clone(),
        &NoProgress,
        pending(),
    ));
    // Wait (bounded) until two items are done and the third hangs, then kill the crawl.
    let mut done = 0;
    for _ in 0..200 {
        done = catalog
            .lock()
            .unwrap()
            .frontier_counts()
            .unwrap()
            .into_iter()
            .find(|(state, _)| state == "done")
            .map_or(0, |(_, n)| n);
        if done == OPEN_BUDGET as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(done, OPEN_BUDGET as u64);
    first.abort();
    let _ = first.await;
    drop(catalog);

    // A new process would reopen the file: do the same.
    fixture.hang_after.store(false, Ordering::SeqCst);
    fixture.asked.lock().unwrap().clear();
    let catalog = shared(Catalog::open(&path).unwrap());
    assert_eq!(
        catalog.lock().unwrap().stats().unwrap().servers,
        OPEN_BUDGET as u64,
        "kept what it stored"
    );
    let resumed = crawl(
        catalog.clone(),
        CrawlConfig {
            resume: true,
            ..config
        },
        &NoProgress,
        pending(),
    )
    .await
    .unwrap();
    assert!(resumed.resumed);
    assert_eq!(resumed.sources["npm"].stored, names.len() - OPEN_BUDGET);
    let mut asked = fixture.asked.lock().unwrap().clone();
    asked.sort();
    let left: Vec<String> = names[OPEN_BUDGET..]
        .iter()
        .map(|name| format!("/{name}"))
        .collect();
    assert_eq!(asked, left, "the second run fetched only what was left");
    assert_eq!(
        catalog.lock().unwrap().stats().unwrap().servers,
        names.len() as u64
    );
}

#[tokio::test]
async fn resume_without_an_unfinished_crawl_says_so() {
    let catalog = shared(Catalog::open_in_memory().unwrap());
    let config = CrawlConfig {
        sources: vec![Source::Seeds],
        resume: true,
        ..CrawlConfig::default()
    };
    let error = crawl(catalog, config, &NoProgress, pending())
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("no unfinished crawl to resume"),
        "{error}"
    );
}

#[tokio::test]
async fn a_markdown_list_and_a_purl_list_feed_the_crawl_and_npm_fills_in_the_packages() {
    let fixture = Fixture::default();
    let base = start(fixture.clone()).await;
    fixture.files.lock().unwrap().insert(
        "/pkg-listed".to_owned(),
        packument("pkg-listed", "https://github.com/acme/listed"),
    );
    let dir = tempfile::tempdir().unwrap();
    let readme = dir.path().join("README.md");
    std::fs::write(
        &readme,
        "# Awesome\n- [one](https://github.com/acme/one) - the first\n- [two](https://github.com/acme/two)\n",
    )
    .unwrap();
    let purls = dir.path().join("packages.txt");
    std::fs::write(&purls, "pkg:npm/pkg-listed\n").unwrap();
    let catalog = shared(Catalog::open_in_memory().unwrap());
    let config = CrawlConfig {
        sources: vec![Source::Seeds, Source::Npm],
        seed_files: vec![readme, purls],
        npm_registry: Some(base),
        http: quick_http(),
        ..CrawlConfig::default()
    };
    let summary = crawl(catalog.clone(), config, &NoProgress, pending())
        .await
        .unwrap();
    assert!(!summary.has_problems(), "{summary:?}");
    assert_eq!(summary.sources["seeds"].stored, 3);
    assert_eq!(
        summary.sources["npm"].stored, 1,
        "the listed purl was fetched from npm"
    );
    let catalog = catalog.lock().unwrap();
    assert_eq!(
        catalog.stats().unwrap().servers,
        3,
        "npm's sighting merged into the listed package"
    );
    let one = catalog.find_servers("acme/one").unwrap().remove(0);
    assert_eq!(one.record.description.as_deref(), Some("the first"));
    let listed = catalog.find_servers("pkg-listed").unwrap().remove(0);
    assert_eq!(
        listed.record.repository.as_deref(),
        Some("https://github.com/acme/listed")
    );
    assert_eq!(listed.record.license.as_deref(), Some("MIT"));
}

#[tokio::test]
async fn a_re_crawl_stores_only_what_changed_but_always_asks_packages_again() {
    let fixture = Fixture::default();
    let base = start(fixture.clone()).await;
    let page = |description: &str| {
        json!({
            "servers": [
                registry_entry("io.github.acme/one", "https://github.com/acme/one", None,
                               json!({"registryType": "npm", "identifier": "pkg-one", "version": "1.0.0"})),
                {
                    "server": {"name": "io.github.acme/two", "description": description,
                               "repository": {"url": "https://github.com/acme/two", "source": "github"}},
                    "_meta": {"io.modelcontextprotocol.registry/official": {"status": "active"}}
                },
            ],
            "metadata": {}
        })
        .to_string()
        .into_bytes()
    };
    {
        let mut files = fixture.files.lock().unwrap();
        files.insert("/v0.1/servers".to_owned(), page("first words"));
        files.insert(
            "/pkg-one".to_owned(),
            packument("pkg-one", "https://github.com/acme/one"),
        );
    }
    let catalog = shared(Catalog::open_in_memory().unwrap());
    let config = CrawlConfig {
        sources: vec![Source::Registry, Source::Npm],
        registry_url: base.clone(),
        npm_registry: Some(base.clone()),
        http: quick_http(),
        ..CrawlConfig::default()
    };
    let first = crawl(catalog.clone(), config.clone(), &NoProgress, pending())
        .await
        .unwrap();
    assert_eq!(first.sources["registry"].stored, 2);
    assert_eq!(first.sources["registry"].unchanged, 0);

    let second = crawl(catalog.clone(), config.clone(), &NoProgress, pending())
        .await
        .unwrap();
    let registry = &second.sources["registry"];
    assert_eq!(
        (registry.discovered, registry.unchanged, registry.stored),
        (2, 2, 0)
    );
    let npm = &second.sources["npm"];
    assert_eq!(
        (npm.unchanged, npm.stored),
        (0, 1),
        "packages are asked again"
    );

    // One entry changes: only it is stored again.
    fixture
        .files
        .lock()
        .unwrap()
        .insert("/v0.1/servers".to_owned(), page("new words"));
    let third = crawl(catalog.clone(), config, &NoProgress, pending())
        .await
        .unwrap();
    let registry = &third.sources["registry"];
    assert_eq!((registry.unchanged, registry.stored), (1, 1));
    let catalog = catalog.lock().unwrap();
    let two = catalog
        .find_servers("io.github.acme/two")
        .unwrap()
        .remove(0);
    assert_eq!(two.record.description.as_deref(), Some("new words"));
    assert_eq!(catalog.stats().unwrap().servers, 2);
}

/// An npm tarball (`package/...` entries, gzip) holding these files.
fn tarball(files: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (path, text) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, format!("package/{path}"), text.as_bytes())
            .unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

fn packument_with_tarball(name: &str, tarball_url: &str) -> Vec<u8> {
    json!({
        "name": name,
        "dist-tags": {"latest": "2.0.0"},
        "versions": {"2.0.0": {
            "description": format!("{name}: notes and a shell"),
            "license": "MIT",
            "dist": {"tarball": tarball_url}
        }}
    })
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn npm_packages_are_extracted_and_classified_as_they_are_stored() {
    let fixture = Fixture::default();
    let base = start(fixture.clone()).await;
    let source = r#"import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
const server = new McpServer({ name: "notes-shell", version: "2.0.0" });
server.registerTool("run_command", {
  description: "Runs a shell command on the host and returns its output",
  inputSchema: { command: z.string().describe("The command line to run") },
}, async ({ command }) => ({ content: [{ type: "text", text: command }] }));
server.tool("list_notes", "Lists the saved notes", {}, async () => ({ content: [] }));
"#;
    {
        let mut files = fixture.files.lock().unwrap();
        files.insert(
            "/notes-shell".to_owned(),
            packument_with_tarball(
                "notes-shell",
                &format!("{base}/tarballs/notes-shell-2.0.0.tgz"),
            ),
        );
        files.insert(
            "/tarballs/notes-shell-2.0.0.tgz".to_owned(),
            tarball(&[
                (
                    "package.json",
                    r#"{"name": "notes-shell", "version": "2.0.0"}"#,
                ),
                ("dist/index.js", source),
            ]),
        );
        files.insert(
            "/broken-pkg".to_owned(),
            packument_with_tarball("broken-pkg", &format!("{base}/tarballs/broken.tgz")),
        );
        files.insert(
            "/tarballs/broken.tgz".to_owned(),
            b"this is not gzip".to_vec(),
        );
    }
    let catalog = shared(Catalog::open_in_memory().unwrap());
    let config = CrawlConfig {
        sources: vec![Source::Npm],
        npm_packages: vec!["notes-shell".to_owned(), "broken-pkg".to_owned()],
        npm_registry: Some(base),
        http: quick_http(),
        ..CrawlConfig::default()
    };
    let summary = crawl(catalog.clone(), config, &NoProgress, pending())
        .await
        .unwrap();
    let npm = &summary.sources["npm"];
    assert_eq!(npm.stored, 2, "{summary:?}");
    assert_eq!(npm.tools, 2, "{summary:?}");
    assert_eq!(
        npm.tools_failed, 1,
        "the broken tarball is counted: {summary:?}"
    );
    assert!(
        npm.errors
            .iter()
            .any(|error| error.starts_with("broken-pkg: tools not read")),
        "{:?}",
        npm.errors
    );

    let catalog = catalog.lock().unwrap();
    let cards = catalog.find_tools("run_command").unwrap();
    assert_eq!(cards.len(), 1);
    let card = &cards[0];
    assert_eq!(card.server.name, "notes-shell");
    assert_eq!(card.tool.location.as_deref(), Some("dist/index.js:4"));
    let verdict = card.classification.as_ref().expect("classified as stored");
    assert_eq!(verdict.category.to_string(), "Execute");
    assert!(
        catalog.find_tools("list_notes").unwrap()[0]
            .classification
            .is_some()
    );
    // The broken package's server is stored all the same, without tools.
    assert_eq!(catalog.find_servers("broken-pkg").unwrap().len(), 1);
}
