//! The registry source against a fixture registry on 127.0.0.1, and the real early seed
//! file, copied into `tests/data` (the public registry's own early seed data).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum::routing::get;
use mcpwarden::crawl::http::{HttpClient, HttpConfig};
use mcpwarden::crawl::registry::{RegistryError, list_servers, read_early_seed};
use serde_json::{Value, json};

/// Every query the fixture registry was asked, in order.
type Asked = Arc<Mutex<Vec<HashMap<String, String>>>>;

fn entry(name: &str, status: &str, updated: &str) -> Value {
    json!({
        "server": {
            "name": name,
            "description": format!("{name} does things"),
            "version": "1.0.0",
            "repository": {"url": format!("https://github.com/{}.git", name.replace("io.github.", "")), "source": "github"},
            "packages": [{"registryType": "npm", "identifier": format!("@{}", name.replace("io.github.", "")), "version": "1.0.0",
                          "transport": {"type": "stdio"}, "environmentVariables": [{"name": "API_KEY", "isSecret": true}]}],
            "remotes": [{"type": "streamable-http", "url": "https://example.com/mcp"}],
            "someFieldFromTheFuture": {"ignored": true}
        },
        "_meta": {"io.modelcontextprotocol.registry/official": {"status": status, "updatedAt": updated, "isLatest": true}}
    })
}

/// A registry of three pages. Records every query it was asked.
async fn fixture_registry(pages: Vec<Value>) -> (String, Asked) {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let pages = Arc::new(pages);
    let state = (pages, asked.clone());
    let app = Router::new()
        .route(
            "/v0.1/servers",
            get(
                |State((pages, asked)): State<(Arc<Vec<Value>>, Asked)>,
                 Query(query): Query<HashMap<String, String>>| async move {
                    asked.lock().unwrap().push(query.clone());
                    let index: usize = query
                        .get("cursor")
                        .and_then(|c| c.strip_prefix("page-")?.parse().ok())
                        .unwrap_or(0);
                    match pages.get(index) {
                        Some(Value::String(raw)) => raw.clone().into_response(),
                        Some(page) => axum::Json(page.clone()).into_response(),
                        None => axum::http::StatusCode::NOT_FOUND.into_response(),
                    }
                },
            ),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}"), asked)
}

fn client() -> HttpClient {
    HttpClient::new(
        HttpConfig {
            max_retries: 1,
            base_backoff: std::time::Duration::from_millis(5),
            ..HttpConfig::default()
        },
        None,
    )
    .unwrap()
}

fn three_pages() -> Vec<Value> {
    vec![
        json!({"servers": [entry("io.github.a/one", "active", "2026-01-01T00:00:00Z"), entry("io.github.b/two", "deleted", "2026-01-02T00:00:00Z")],
               "metadata": {"nextCursor": "page-1", "count": 2}}),
        json!({"servers": [entry("io.github.c/three", "deprecated", "2026-01-03T00:00:00Z")],
               "metadata": {"nextCursor": "page-2", "count": 1}}),
        json!({"servers": [entry("io.github.a/one", "active", "2026-02-01T00:00:00Z")], "metadata": {"count": 1}}),
    ]
}

#[tokio::test]
async fn every_page_is_read_deleted_servers_are_skipped_and_the_latest_version_wins() {
    let (base, asked) = fixture_registry(three_pages()).await;
    let listing = list_servers(&client(), &base, Some("2025-12-01T00:00:00Z"), 2, None)
        .await
        .unwrap();
    assert_eq!(listing.pages, 3);
    assert_eq!(listing.skipped_deleted, 1);
    let names: Vec<&str> = listing.servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["io.github.a/one", "io.github.c/three"]);
    let one = &listing.servers[0];
    assert_eq!(one.repository.as_deref(), Some("https://github.com/a/one"));
    assert_eq!(one.packages, ["pkg:npm/%40a/one@1.0.0"]);
    assert_eq!(one.remotes[0].kind, "streamable-http");
    assert_eq!(one.sources[0].source, "registry");
    assert_eq!(
        one.sources[0].seen_at.as_deref(),
        Some("2026-02-01T00:00:00Z"),
        "the later listing won"
    );

    let asked = asked.lock().unwrap();
    assert_eq!(asked.len(), 3);
    assert!(
        asked
            .iter()
            .all(|q| q.get("updated_since").map(String::as_str) == Some("2025-12-01T00:00:00Z"))
    );
    assert!(
        asked
            .iter()
            .all(|q| q.get("limit").map(String::as_str) == Some("2"))
    );
    assert_eq!(asked[0].get("cursor"), None);
    assert_eq!(asked[2].get("cursor").map(String::as_str), Some("page-2"));
}

#[tokio::test]
async fn limit_stops_early() {
    let (base, asked) = fixture_registry(three_pages()).await;
    let listing = list_servers(&client(), &base, None, 2, Some(1))
        .await
        .unwrap();
    assert_eq!(listing.servers.len(), 1);
    assert_eq!(asked.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_malformed_page_is_an_error_naming_the_url() {
    let pages = vec![
        json!({"servers": [entry("io.github.a/one", "active", "2026-01-01T00:00:00Z")], "metadata": {"nextCursor": "page-1"}}),
        Value::String("{\"servers\": [tru".to_owned()),
    ];
    let (base, _) = fixture_registry(pages).await;
    let error = list_servers(&client(), &base, None, 10, None)
        .await
        .unwrap_err();
    assert!(matches!(error, RegistryError::BadPage { .. }), "{error}");
    assert!(error.to_string().contains("cursor=page-1"), "{error}");
}

#[tokio::test]
async fn a_cursor_that_repeats_stops_the_listing() {
    let pages = vec![
        json!({"servers": [], "metadata": {"nextCursor": "page-1"}}),
        json!({"servers": [], "metadata": {"nextCursor": "page-1"}}),
    ];
    let (base, asked) = fixture_registry(pages).await;
    let error = list_servers(&client(), &base, None, 10, None)
        .await
        .unwrap_err();
    assert!(matches!(error, RegistryError::CursorLoop { .. }), "{error}");
    assert_eq!(asked.lock().unwrap().len(), 2);
}

#[test]
fn the_early_seed_file_gives_464_servers_and_skips_7_nameless_entries() {
    let seed = read_early_seed(Path::new("tests/data/registry-seed-2025-05-16.json")).unwrap();
    assert_eq!(
        (seed.servers.len(), seed.nameless),
        (464, 7),
        "471 entries in all"
    );
    let servers = seed.servers;
    let count = |prefix: &str| {
        servers
            .iter()
            .flat_map(|server| &server.packages)
            .filter(|purl| purl.starts_with(prefix))
            .count()
    };
    assert_eq!(count("pkg:npm/"), 83);
    assert_eq!(count("pkg:pypi/"), 53);
    assert_eq!(
        servers
            .iter()
            .filter(|server| server.repository.is_some())
            .count(),
        464
    );
    let magic = servers
        .iter()
        .find(|s| s.name == "io.github.21st-dev/magic-mcp")
        .unwrap();
    assert_eq!(
        magic.repository.as_deref(),
        Some("https://github.com/21st-dev/magic-mcp")
    );
    assert_eq!(magic.packages, ["pkg:npm/%4021st-dev/magic@0.0.46"]);
}

#[test]
fn a_file_that_is_not_a_seed_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed.json");
    std::fs::write(&path, "{\"not\": \"a list\"}").unwrap();
    let error = read_early_seed(&path).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("seed.json is not a registry seed file"),
        "{error}"
    );
}

/// The seed list shipped in `data/seeds/` is the early seed file in our own format. Run
/// with `MCPWARDEN_BLESS=1` to write it again after changing the conversion.
#[test]
fn the_shipped_seed_list_is_the_registry_seed_file_converted() {
    let servers = read_early_seed(Path::new("tests/data/registry-seed-2025-05-16.json"))
        .unwrap()
        .servers;
    let mut expected = String::from(
        "# The official MCP registry's early seed file (2025-05-16): names, repositories and packages\n\
         # of its 464 named servers (7 nameless placeholder entries are left out).\n\
         # Catalogue JSON Lines without tools (docs/catalog-format.md); `mcpwarden crawl` reads it.\n",
    );
    for server in servers {
        expected.push_str(
            &serde_json::to_string(&mcpwarden::catalog::ServerLine::from_record(server)).unwrap(),
        );
        expected.push('\n');
    }
    let shipped = Path::new("data/seeds/registry-seed-2025-05-16.jsonl");
    if std::env::var_os("MCPWARDEN_BLESS").is_some() {
        std::fs::write(shipped, &expected).unwrap();
    }
    assert!(
        std::fs::read_to_string(shipped).unwrap() == expected,
        "{} is out of date; run with MCPWARDEN_BLESS=1",
        shipped.display()
    );
}
