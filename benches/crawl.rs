//! Crawl speed and memory: a simulated MCP registry and GitHub API of 50,000 servers on
//! 127.0.0.1, every response delayed 20 ms, crawled at concurrency 64 into an on-disk
//! catalogue; then the same crawl again, where every response is a 304.
//!
//! Targets (issue 3): >= 500 servers/s, peak memory < 300 MB, the 304 re-run >= 5x faster.
//!
//! Run: `cargo bench --bench crawl`. Environment: CRAWL_BENCH_ROUNDS (default 3),
//! CRAWL_BENCH_SERVERS (50000), CRAWL_BENCH_LATENCY_MS (20), CRAWL_BENCH_PER_HOST (the
//! client's default, 4), CRAWL_BENCH_BATCH (items per store transaction; 1 = one per
//! item), CRAWL_BENCH_REVISIT=1 (store unchanged sightings again, as before skipping),
//! CRAWL_BENCH_FULL=1 (`--full`: list every source in full, every page a 304, as before
//! incremental listings).
//!
//! A whole crawl takes seconds, so this is a plain timed harness (medians over rounds), not
//! criterion's many-sample loop. The fixture runs in a child process (this same binary,
//! with CRAWL_BENCH_FIXTURE=1) so the peak memory read from /proc/self/status (VmHWM) is
//! the crawler's alone.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use mcpwarden::catalog::Catalog;
use mcpwarden::crawl::engine::{CrawlConfig, CrawlSummary, Source, crawl};
use mcpwarden::crawl::http::HttpConfig;
use mcpwarden::progress::NoProgress;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// 2020-01-01T00:00:00Z.
const START: i64 = 1_577_836_800;
/// Registry servers; the rest of the servers are GitHub-only repositories.
const REGISTRY_SHARE: usize = 10;
/// Of the registry's servers, one in this many is also found on GitHub (merged).
const OVERLAP_EVERY: usize = 5;
/// When every registry entry was last updated (`_meta`'s `updatedAt`).
const REGISTRY_UPDATED_AT: &str = "2026-01-01T00:00:00Z";

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if std::env::var_os("CRAWL_BENCH_FIXTURE").is_some() {
        serve_fixture();
        return;
    }
    let servers = env_number("CRAWL_BENCH_SERVERS", 50_000) as usize;
    let rounds = env_number("CRAWL_BENCH_ROUNDS", 3) as usize;
    let latency = env_number("CRAWL_BENCH_LATENCY_MS", 20);
    let mut child = Command::new(std::env::current_exe().expect("own path"))
        .env("CRAWL_BENCH_FIXTURE", "1")
        .env("CRAWL_BENCH_SERVERS", servers.to_string())
        .env("CRAWL_BENCH_LATENCY_MS", latency.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the fixture");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("fixture stdout"))
        .read_line(&mut line)
        .expect("fixture address");
    let base = line
        .trim()
        .strip_prefix("READY ")
        .expect("READY line")
        .to_owned();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut firsts = Vec::new();
    let mut seconds = Vec::new();
    println!(
        "crawl bench: {servers} servers, {latency} ms per response, concurrency 64, {rounds} rounds, per host {}, batch {}, revisit {}, full listing {}",
        std::env::var("CRAWL_BENCH_PER_HOST").unwrap_or_else(|_| "default".to_owned()),
        std::env::var("CRAWL_BENCH_BATCH").unwrap_or_else(|_| "default".to_owned()),
        std::env::var_os("CRAWL_BENCH_REVISIT").is_some(),
        std::env::var_os("CRAWL_BENCH_FULL").is_some(),
    );
    for round in 1..=rounds {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("catalog.db");
        let (first, first_summary) = runtime.block_on(run(&path, &base));
        let (second, second_summary) = runtime.block_on(run(&path, &base));
        let stored = Catalog::open(&path)
            .expect("reopen")
            .stats()
            .expect("stats")
            .servers;
        println!(
            "round {round}: first {:.2} s ({:.0} servers/s, {} requests), 304 re-run {:.2} s ({} requests, {} not modified), ratio {:.1}x, {stored} servers stored",
            first,
            servers as f64 / first,
            first_summary.http.requests,
            second,
            second_summary.http.requests,
            second_summary.http.not_modified,
            first / second,
        );
        assert_eq!(stored as usize, servers, "every server stored once");
        // Every request of the re-run is a 304 but the registry's incremental listing (a
        // new URL: `updated_since` the first run), which lists nothing.
        assert!(
            second_summary.http.requests - second_summary.http.not_modified <= 1,
            "the re-run was answered by 304s and one empty listing: {:?}",
            second_summary.http
        );
        assert!(
            second_summary
                .sources
                .values()
                .all(|source| source.stored == 0),
            "the re-run stored nothing: {second_summary:?}"
        );
        firsts.push(first);
        seconds.push(second);
    }
    let median = |values: &mut Vec<f64>| {
        values.sort_by(|a, b| a.total_cmp(b));
        values[values.len() / 2]
    };
    let (first, second) = (median(&mut firsts), median(&mut seconds));
    println!(
        "median: first {first:.2} s = {:.0} servers/s; 304 re-run {second:.2} s; ratio {:.1}x; peak RSS {} MB",
        servers as f64 / first,
        first / second,
        peak_rss_kb() / 1024
    );
    drop(child.stdin.take());
    let _ = child.kill();
    let _ = child.wait();
}

async fn run(path: &std::path::Path, base: &str) -> (f64, CrawlSummary) {
    let catalog = Arc::new(Mutex::new(Catalog::open(path).expect("catalog")));
    let config = CrawlConfig {
        sources: vec![Source::Registry, Source::Github],
        registry_url: base.to_owned(),
        github_url: base.to_owned(),
        concurrency: 64,
        // Discovery, metadata and storing at scale; downloading and extracting each
        // repository is measured by benches/extract.rs (the simulated API serves no
        // tarballs).
        extract_tools: false,
        store_batch: env_number(
            "CRAWL_BENCH_BATCH",
            CrawlConfig::default().store_batch as u64,
        ) as usize,
        revisit_unchanged: std::env::var_os("CRAWL_BENCH_REVISIT").is_some(),
        full_listing: std::env::var_os("CRAWL_BENCH_FULL").is_some(),
        http: HttpConfig {
            max_concurrency: 64,
            per_host_concurrency: env_number(
                "CRAWL_BENCH_PER_HOST",
                HttpConfig::default().per_host_concurrency as u64,
            ) as usize,
            ..HttpConfig::default()
        },
        ..CrawlConfig::default()
    };
    let started = Instant::now();
    let summary = crawl(catalog, config, &NoProgress, std::future::pending())
        .await
        .expect("crawl");
    assert!(!summary.has_problems(), "{summary:?}");
    (started.elapsed().as_secs_f64(), summary)
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

struct Fixture {
    latency: Duration,
    /// Registry pages, rendered once.
    registry_pages: Vec<String>,
    /// GitHub repositories sorted by creation time: (created, rendered JSON).
    repos: Vec<(i64, String)>,
}

fn iso(seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(seconds)
        .expect("time")
        .format(&Rfc3339)
        .expect("format")
}

/// A repository in the shape GitHub's search answers with.
fn repo_json(owner: &str, name: &str, created: i64, stars: u64) -> String {
    let full = format!("{owner}/{name}");
    let api = format!("https://api.github.com/users/{owner}");
    json!({
        "id": created, "node_id": "R_kgDO", "name": name, "full_name": full,
        "owner": {
            "login": owner, "id": 1000, "node_id": "MDQ6VXNlcjE=",
            "avatar_url": "https://avatars.githubusercontent.com/u/1000?v=4", "gravatar_id": "",
            "url": api, "html_url": format!("https://github.com/{owner}"),
            "followers_url": format!("{api}/followers"), "following_url": format!("{api}/following{{/other_user}}"),
            "gists_url": format!("{api}/gists{{/gist_id}}"), "starred_url": format!("{api}/starred{{/owner}}{{/repo}}"),
            "subscriptions_url": format!("{api}/subscriptions"), "organizations_url": format!("{api}/orgs"),
            "repos_url": format!("{api}/repos"), "events_url": format!("{api}/events{{/privacy}}"),
            "received_events_url": format!("{api}/received_events"), "type": "User", "site_admin": false
        },
        "private": false, "html_url": format!("https://github.com/{full}"),
        "description": format!("{name}: an MCP server"), "fork": false,
        "url": format!("https://api.github.com/repos/{full}"),
        "created_at": iso(created), "updated_at": iso(created + 3600), "pushed_at": iso(created + 7200),
        "stargazers_count": stars, "watchers_count": stars, "language": "TypeScript",
        "forks_count": 1, "archived": false, "disabled": false, "open_issues_count": 0,
        "license": {"key": "mit", "name": "MIT License", "spdx_id": "MIT", "url": "https://api.github.com/licenses/mit", "node_id": "MDc6TGljZW5zZTEz"},
        "topics": ["mcp", "mcp-server"], "visibility": "public", "default_branch": "main", "score": 1.0
    })
    .to_string()
}

fn build_fixture(servers: usize, latency: Duration) -> Fixture {
    let registry = servers / REGISTRY_SHARE;
    let entries: Vec<Value> = (0..registry)
        .map(|index| {
            json!({
                "server": {
                    "name": format!("io.github.reg{}/server-{index}", index % 100),
                    "description": format!("registry server {index}"),
                    "version": "1.0.0",
                    "repository": {"url": format!("https://github.com/reg{}/server-{index}", index % 100), "source": "github"},
                    "packages": [{"registryType": "npm", "identifier": format!("@reg{}/server-{index}", index % 100), "version": "1.0.0",
                                  "transport": {"type": "stdio"}}],
                },
                "_meta": {"io.modelcontextprotocol.registry/official": {"status": "active", "updatedAt": REGISTRY_UPDATED_AT, "isLatest": true}}
            })
        })
        .collect();
    let pages = entries.chunks(100).count();
    let registry_pages = entries
        .chunks(100)
        .enumerate()
        .map(|(index, chunk)| {
            let next = (index + 1 < pages).then(|| format!("page-{}", index + 1));
            json!({"servers": chunk, "metadata": {"nextCursor": next, "count": chunk.len()}})
                .to_string()
        })
        .collect();
    // GitHub: every server not only in the registry, plus one in OVERLAP_EVERY registry
    // servers (the same repository, merged into one catalogue server).
    let github_only = servers - registry;
    let mut repos: Vec<(i64, String)> = Vec::new();
    let span = 5 * 365 * 86_400;
    for index in 0..github_only {
        let created = START + (index as i64 * span) / github_only as i64;
        repos.push((
            created,
            repo_json(
                &format!("gh{}", index % 500),
                &format!("mcp-{index}"),
                created,
                index as u64 % 997,
            ),
        ));
    }
    for index in (0..registry).step_by(OVERLAP_EVERY) {
        let created = START + 17 + (index as i64 * span) / registry as i64;
        repos.push((
            created,
            repo_json(
                &format!("reg{}", index % 100),
                &format!("server-{index}"),
                created,
                5,
            ),
        ));
    }
    repos.sort_by_key(|(created, _)| *created);
    Fixture {
        latency,
        registry_pages,
        repos,
    }
}

fn etag(text: &str) -> String {
    format!("\"{text}\"")
}

/// 304 when the client's validator matches `tag`, else the body `render` makes.
fn conditional(headers: &HeaderMap, tag: String, render: impl FnOnce() -> String) -> Response {
    if headers
        .get("if-none-match")
        .and_then(|value| value.to_str().ok())
        == Some(tag.as_str())
    {
        return (StatusCode::NOT_MODIFIED, [("etag", tag)]).into_response();
    }
    (
        [
            ("etag", tag),
            ("content-type", "application/json".to_owned()),
        ],
        render(),
    )
        .into_response()
}

async fn registry(
    State(fixture): State<Arc<Fixture>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    tokio::time::sleep(fixture.latency).await;
    // `updated_since`, as the registry does it: only entries updated after that time.
    // Every entry here was updated at REGISTRY_UPDATED_AT.
    if let Some(since) = query.get("updated_since") {
        let parse = |text: &str| OffsetDateTime::parse(text, &Rfc3339).map(|t| t.unix_timestamp());
        let (Ok(since), Ok(updated)) = (parse(since), parse(REGISTRY_UPDATED_AT)) else {
            return StatusCode::BAD_REQUEST.into_response();
        };
        if since >= updated {
            return conditional(&headers, etag("registry-none"), || {
                json!({"servers": [], "metadata": {"nextCursor": null, "count": 0}}).to_string()
            });
        }
    }
    let index: usize = query
        .get("cursor")
        .and_then(|c| c.strip_prefix("page-")?.parse().ok())
        .unwrap_or(0);
    match fixture.registry_pages.get(index) {
        Some(page) => conditional(&headers, etag(&format!("registry-{index}")), || {
            page.clone()
        }),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn search(
    State(fixture): State<Arc<Fixture>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    tokio::time::sleep(fixture.latency).await;
    let q = &query["q"];
    let page: usize = query["page"].parse().unwrap_or(1);
    let per_page: usize = query["per_page"].parse().unwrap_or(30);
    let Some(range) = q.split(' ').find_map(|word| word.strip_prefix("created:")) else {
        return StatusCode::UNPROCESSABLE_ENTITY.into_response();
    };
    let Some((from, to)) = range.split_once("..") else {
        return StatusCode::UNPROCESSABLE_ENTITY.into_response();
    };
    let parse = |text: &str| OffsetDateTime::parse(text, &Rfc3339).map(|t| t.unix_timestamp());
    let (Ok(from), Ok(to)) = (parse(from), parse(to)) else {
        return StatusCode::UNPROCESSABLE_ENTITY.into_response();
    };
    // Every repository has both topics; the word query finds nothing more.
    let all = q.starts_with("topic:mcp-server");
    let low = fixture
        .repos
        .partition_point(|(created, _)| *created < from);
    let high = fixture.repos.partition_point(|(created, _)| *created <= to);
    let found = if all {
        &fixture.repos[low..high]
    } else {
        &[][..]
    };
    if page * per_page > 1000 {
        return StatusCode::UNPROCESSABLE_ENTITY.into_response();
    }
    // `sort=updated&order=desc`: every repository here was updated an hour after it was
    // created, so most recently updated first is newest first.
    let newest_first = query.get("sort").map(String::as_str) == Some("updated")
        && query.get("order").map(String::as_str) != Some("asc");
    let tag = etag(&format!("{q}-{page}-{per_page}-{newest_first}"));
    conditional(&headers, tag, || {
        let ordered: Box<dyn Iterator<Item = &(i64, String)>> = if newest_first {
            Box::new(found.iter().rev())
        } else {
            Box::new(found.iter())
        };
        let items: Vec<&str> = ordered
            .skip((page - 1) * per_page)
            .take(per_page)
            .map(|(_, json)| json.as_str())
            .collect();
        format!(
            "{{\"total_count\":{},\"incomplete_results\":false,\"items\":[{}]}}",
            found.len(),
            items.join(",")
        )
    })
}

fn serve_fixture() {
    let servers = env_number("CRAWL_BENCH_SERVERS", 50_000) as usize;
    let latency = Duration::from_millis(env_number("CRAWL_BENCH_LATENCY_MS", 20));
    let fixture = Arc::new(build_fixture(servers, latency));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let app = Router::new()
            .route("/v0.1/servers", axum::routing::get(registry))
            .route("/search/repositories", axum::routing::get(search))
            .with_state(fixture);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        println!("READY http://{}", listener.local_addr().expect("address"));
        // Stop when the parent closes our stdin (or dies).
        tokio::spawn(async {
            let mut stdin = tokio::io::stdin();
            let mut buffer = [0u8; 64];
            loop {
                match tokio::io::AsyncReadExt::read(&mut stdin, &mut buffer).await {
                    Ok(0) | Err(_) => std::process::exit(0),
                    Ok(_) => {}
                }
            }
        });
        axum::serve(listener, app).await.expect("serve");
    });
}
