//! The GitHub source against a fixture GitHub API on 127.0.0.1 (axum): search partitioned
//! past the 1,000-result cap, metadata mapping, rate limits (used-up budget and secondary
//! limits), ETag reuse, code search with a token, tarballs, and merging with the registry.
//! The fixture's repositories are written here, in the shapes GitHub's API answers with.

use std::collections::HashMap;
use std::future::pending;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use mcpwarden::catalog::Catalog;
use mcpwarden::crawl::engine::{CrawlConfig, Source, crawl};
use mcpwarden::crawl::github::{self, Window};
use mcpwarden::crawl::http::{HttpClient, HttpConfig, MemoryValidators};
use mcpwarden::crawl::unpack::UnpackLimits;
use mcpwarden::progress::NoProgress;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// 2020-01-01T00:00:00Z: the fixture's repositories are created from here on.
const START: i64 = 1_577_836_800;

fn user(login: &str) -> Value {
    let api = format!("https://api.github.com/users/{login}");
    json!({
        "login": login, "id": 1000, "node_id": "MDQ6VXNlcjE=",
        "avatar_url": "https://avatars.githubusercontent.com/u/1000?v=4", "gravatar_id": "",
        "url": api, "html_url": format!("https://github.com/{login}"),
        "followers_url": format!("{api}/followers"), "following_url": format!("{api}/following{{/other_user}}"),
        "gists_url": format!("{api}/gists{{/gist_id}}"), "starred_url": format!("{api}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/subscriptions"), "organizations_url": format!("{api}/orgs"),
        "repos_url": format!("{api}/repos"), "events_url": format!("{api}/events{{/privacy}}"),
        "received_events_url": format!("{api}/received_events"), "type": "User", "site_admin": false
    })
}

fn iso(seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(seconds)
        .unwrap()
        .format(&Rfc3339)
        .unwrap()
}

/// A repository as the search and repository endpoints return it.
fn repo(owner: &str, name: &str, created: i64, topics: &[&str], description: &str) -> Value {
    let full = format!("{owner}/{name}");
    json!({
        "id": created, "node_id": "R_kgDO", "name": name, "full_name": full,
        "owner": user(owner), "private": false,
        "html_url": format!("https://github.com/{full}"), "description": description,
        "fork": false, "url": format!("https://api.github.com/repos/{full}"),
        "created_at": iso(created), "updated_at": iso(created + 3600), "pushed_at": iso(created + 7200),
        "stargazers_count": 3, "watchers_count": 3, "language": "TypeScript",
        "forks_count": 0, "archived": false, "disabled": false, "open_issues_count": 0,
        "license": {"key": "mit", "name": "MIT License", "spdx_id": "MIT", "url": "https://api.github.com/licenses/mit", "node_id": "MDc6TGljZW5zZTEz"},
        "topics": topics, "visibility": "public", "default_branch": "main", "score": 1.0
    })
}

#[derive(Clone, Default)]
struct Fixture {
    repos: Arc<Mutex<Vec<Value>>>,
    /// Raw files by path (registry pages, tarballs).
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    /// Every request: (path and query, whether it carried a token, arrival time).
    asked: Arc<Mutex<Vec<(String, bool, SystemTime)>>>,
    /// Answers to give before the normal ones, one per request, in order.
    scripted: Arc<Mutex<Vec<Scripted>>>,
    not_modified: Arc<AtomicUsize>,
    over_cap: Arc<AtomicUsize>,
    /// While set, repository searches past their first page never answer.
    hang_later_pages: Arc<AtomicBool>,
}

#[derive(Clone)]
enum Scripted {
    /// A 403 secondary limit with `Retry-After: 1`.
    SecondaryLimit,
    /// The normal answer, saying the budget is used up until `reset` (Unix seconds).
    LastOfBudget { reset: u64 },
}

/// Splits `q` into its words and its `created:A..B` window (a `pushed:>=DATE` qualifier
/// is read by [`pushed_since`]).
fn parse_query(q: &str) -> (String, Option<(i64, i64)>) {
    let mut words = Vec::new();
    let mut window = None;
    for word in q.split(' ') {
        if word.starts_with("pushed:") {
            continue;
        }
        if let Some(range) = word.strip_prefix("created:") {
            let (from, to) = range.split_once("..").unwrap();
            let parse = |text: &str| {
                OffsetDateTime::parse(text, &Rfc3339)
                    .unwrap()
                    .unix_timestamp()
            };
            window = Some((parse(from), parse(to)));
        } else {
            words.push(word);
        }
    }
    (words.join(" "), window)
}

/// The `pushed:>=YYYY-MM-DD` qualifier of `q`, as Unix seconds.
fn pushed_since(q: &str) -> Option<i64> {
    let date = q
        .split(' ')
        .find_map(|word| word.strip_prefix("pushed:>="))?;
    let text = format!("{date}T00:00:00Z");
    Some(
        OffsetDateTime::parse(&text, &Rfc3339)
            .expect("the qualifier is a date")
            .unix_timestamp(),
    )
}

/// A time field of a repository as Unix seconds; 0 when the repository has none.
fn seconds(repo: &Value, field: &str) -> i64 {
    repo[field].as_str().map_or(0, |text| {
        OffsetDateTime::parse(text, &Rfc3339)
            .unwrap()
            .unix_timestamp()
    })
}

fn matches(repo: &Value, query: &str) -> bool {
    let topics: Vec<&str> = repo["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    match query {
        "topic:mcp-server" => topics.contains(&"mcp-server"),
        "topic:mcp" => topics.contains(&"mcp"),
        "\"mcp server\" in:name,description" => repo["description"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("mcp server"),
        other => panic!("the fixture does not know the query {other:?}"),
    }
}

fn etag_of(body: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(body);
    format!("\"{:x}\"", digest)
}

/// Answers with `body` as JSON, or 304 when the client already has it.
fn conditional(fixture: &Fixture, headers: &HeaderMap, body: Vec<u8>) -> Response {
    let etag = etag_of(&body);
    if headers
        .get("if-none-match")
        .is_some_and(|value| value.to_str().unwrap() == etag)
    {
        fixture.not_modified.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::NOT_MODIFIED, [("etag", etag)]).into_response();
    }
    (
        [
            ("etag", etag),
            ("content-type", "application/json".to_owned()),
        ],
        body,
    )
        .into_response()
}

async fn search_repositories(
    State(fixture): State<Fixture>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (words, window) = parse_query(&query["q"]);
    let pushed = pushed_since(&query["q"]);
    let page: usize = query["page"].parse().unwrap();
    let per_page: usize = query["per_page"].parse().unwrap();
    if page > 1 && fixture.hang_later_pages.load(Ordering::SeqCst) {
        pending::<()>().await;
    }
    if page * per_page > 1000 {
        fixture.over_cap.fetch_add(1, Ordering::SeqCst);
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Only the first 1000 search results are available",
        )
            .into_response();
    }
    let mut found: Vec<Value> = fixture
        .repos
        .lock()
        .unwrap()
        .iter()
        .filter(|repo| matches(repo, &words))
        .filter(|repo| {
            let created = OffsetDateTime::parse(repo["created_at"].as_str().unwrap(), &Rfc3339)
                .unwrap()
                .unix_timestamp();
            window.is_none_or(|(from, to)| from <= created && created <= to)
        })
        .filter(|repo| pushed.is_none_or(|since| seconds(repo, "pushed_at") >= since))
        .cloned()
        .collect();
    found.sort_by_key(|repo| repo["id"].as_i64().unwrap());
    if query.get("sort").map(String::as_str) == Some("updated") {
        // Most recently updated first, as GitHub sorts with `sort=updated&order=desc`.
        found.sort_by_key(|repo| std::cmp::Reverse(seconds(repo, "updated_at")));
    }
    let total = found.len();
    let items: Vec<Value> = found
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let body = json!({"total_count": total, "incomplete_results": false, "items": items});
    conditional(&fixture, &headers, body.to_string().into_bytes())
}

async fn search_code(State(fixture): State<Fixture>, headers: HeaderMap) -> Response {
    if headers.get("authorization").is_none() {
        return (
            StatusCode::UNAUTHORIZED,
            r#"{"message":"Requires authentication"}"#,
        )
            .into_response();
    }
    let items: Vec<Value> = fixture
        .repos
        .lock()
        .unwrap()
        .iter()
        .filter(|repo| repo["topics"].as_array().unwrap().is_empty())
        .map(|repo| {
            json!({"name": "package.json", "path": "package.json", "sha": "abc",
                   "repository": {"id": repo["id"], "name": repo["name"], "full_name": repo["full_name"]}})
        })
        .collect();
    let body = json!({"total_count": items.len(), "incomplete_results": false, "items": items});
    conditional(&fixture, &headers, body.to_string().into_bytes())
}

async fn fallback(State(fixture): State<Fixture>, headers: HeaderMap, uri: Uri) -> Response {
    let path = uri.path().to_owned();
    if let Some(full) = path.strip_prefix("/repos/")
        && !full.ends_with("/tarball")
    {
        let found = fixture
            .repos
            .lock()
            .unwrap()
            .iter()
            .find(|repo| {
                repo["full_name"]
                    .as_str()
                    .unwrap()
                    .eq_ignore_ascii_case(full)
            })
            .cloned();
        return match found {
            Some(repo) => conditional(&fixture, &headers, repo.to_string().into_bytes()),
            None => StatusCode::NOT_FOUND.into_response(),
        };
    }
    match fixture.files.lock().unwrap().get(&path).cloned() {
        Some(body) => body.into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn start(fixture: Fixture) -> String {
    let app = Router::new()
        .route(
            "/search/repositories",
            axum::routing::get(search_repositories),
        )
        .route("/search/code", axum::routing::get(search_code))
        .fallback(fallback)
        .layer(axum::middleware::from_fn_with_state(
            fixture.clone(),
            |State(fixture): State<Fixture>,
             request: axum::extract::Request,
             next: axum::middleware::Next| async move {
                let uri = request.uri().to_string();
                let token = request.headers().contains_key("authorization");
                fixture
                    .asked
                    .lock()
                    .unwrap()
                    .push((uri, token, SystemTime::now()));
                let scripted = {
                    let mut scripted = fixture.scripted.lock().unwrap();
                    (!scripted.is_empty()).then(|| scripted.remove(0))
                };
                match scripted {
                    Some(Scripted::SecondaryLimit) => (
                        StatusCode::FORBIDDEN,
                        [("retry-after", "1")],
                        r#"{"message":"You have exceeded a secondary rate limit."}"#,
                    )
                        .into_response(),
                    Some(Scripted::LastOfBudget { reset }) => {
                        let mut response = next.run(request).await;
                        let headers = response.headers_mut();
                        headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
                        headers.insert("x-ratelimit-reset", reset.to_string().parse().unwrap());
                        response
                    }
                    None => next.run(request).await,
                }
            },
        ))
        .with_state(fixture);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

fn quick_http() -> HttpConfig {
    HttpConfig {
        max_retries: 2,
        base_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        max_wait: Duration::from_secs(5),
        timeout: Duration::from_secs(10),
        max_concurrency: 16,
        per_host_concurrency: 8,
        ..HttpConfig::default()
    }
}

fn client(validators: Option<Arc<MemoryValidators>>) -> Arc<HttpClient> {
    Arc::new(
        HttpClient::new(
            quick_http(),
            validators.map(|v| v as Arc<dyn mcpwarden::crawl::http::ValidatorStore>),
        )
        .unwrap(),
    )
}

/// From the fixture's start to the end of 2024.
fn fixture_window() -> Window {
    Window {
        from: START,
        to: START + 5 * 365 * 86_400,
    }
}

#[tokio::test]
async fn search_is_split_by_creation_date_until_every_window_fits_under_the_cap() {
    let fixture = Fixture::default();
    {
        let mut repos = fixture.repos.lock().unwrap();
        // 2,500 repositories, one every ~15 hours over four years.
        for index in 0..2_500i64 {
            repos.push(repo(
                "owner",
                &format!("server-{index:04}"),
                START + index * 54_000,
                &["mcp-server"],
                "an MCP server",
            ));
        }
        // 1,005 created in the same second: more than one window can ever list.
        for index in 0..1_005i64 {
            repos.push(repo(
                "burst",
                &format!("s-{index:04}"),
                START + 4 * 365 * 86_400 + 17,
                &["mcp-server"],
                "an MCP server",
            ));
        }
    }
    let base = start(fixture.clone()).await;
    let outcome = github::search(
        &client(None),
        &base,
        &["topic:mcp-server"],
        &[],
        fixture_window(),
    )
    .await
    .unwrap();
    assert_eq!(
        outcome.servers.len(),
        2_500 + 1_000,
        "every repository but the burst's last 5"
    );
    assert!(outcome.servers.contains_key("owner/server-0000"));
    assert!(outcome.servers.contains_key("owner/server-2499"));
    assert!(outcome.splits >= 3, "{} splits", outcome.splits);
    assert_eq!(
        fixture.over_cap.load(Ordering::SeqCst),
        0,
        "never asked past result 1,000"
    );
    assert!(
        outcome
            .notes
            .iter()
            .any(|note| note.contains("1005 repositories created in one second")),
        "{:?}",
        outcome.notes
    );
    assert_eq!(outcome.requests, fixture.asked.lock().unwrap().len());
}

#[tokio::test]
async fn queries_are_merged_and_metadata_is_mapped() {
    let fixture = Fixture::default();
    {
        let mut repos = fixture.repos.lock().unwrap();
        let mut weather = repo(
            "Acme",
            "Weather-MCP",
            START + 10,
            &["mcp", "mcp-server"],
            "Weather MCP server",
        );
        weather["stargazers_count"] = json!(4242);
        weather["language"] = json!("Rust");
        weather["archived"] = json!(true);
        weather["pushed_at"] = json!("2025-03-04T05:06:07Z");
        weather["license"] = json!({"key": "apache-2.0", "name": "Apache License 2.0", "spdx_id": "Apache-2.0", "node_id": "x"});
        repos.push(weather);
        let mut other = repo("beta", "notes", START + 20, &[], "notes over MCP server");
        other["license"] =
            json!({"key": "other", "name": "Other", "spdx_id": "NOASSERTION", "node_id": "y"});
        other["language"] = Value::Null;
        repos.push(other);
        // Not a repository at all: reported and skipped, the page still counts.
        repos.push(json!({"id": START + 30, "name": "broken", "created_at": iso(START + 30), "topics": ["mcp"], "description": ""}));
    }
    let base = start(fixture.clone()).await;
    let outcome = github::search(
        &client(None),
        &base,
        github::REPOSITORY_QUERIES,
        &[],
        fixture_window(),
    )
    .await
    .unwrap();
    assert_eq!(
        outcome.servers.keys().collect::<Vec<_>>(),
        ["acme/weather-mcp", "beta/notes"]
    );
    let weather = &outcome.servers["acme/weather-mcp"];
    assert_eq!(
        weather.repository.as_deref(),
        Some("https://github.com/acme/weather-mcp")
    );
    assert_eq!(weather.stars, Some(4242));
    assert_eq!(weather.language.as_deref(), Some("Rust"));
    assert_eq!(weather.license.as_deref(), Some("Apache-2.0"));
    assert_eq!(weather.last_commit.as_deref(), Some("2025-03-04T05:06:07Z"));
    assert_eq!(weather.description.as_deref(), Some("Weather MCP server"));
    assert_eq!(weather.sources[0].source, "github");
    assert_eq!(weather.sources[0].id, "acme/weather-mcp");
    let notes = &outcome.servers["beta/notes"];
    assert_eq!(
        notes.license.as_deref(),
        Some("other"),
        "NOASSERTION gives way to the key"
    );
    assert_eq!(notes.language, None);
    assert!(
        outcome.notes.iter().any(|n| n.contains("not a repository")),
        "{:?}",
        outcome.notes
    );
    assert!(
        outcome
            .notes
            .iter()
            .any(|n| n.contains("1 of the repositories found are archived")),
        "{:?}",
        outcome.notes
    );
}

#[tokio::test]
async fn a_used_up_budget_is_waited_out_and_a_secondary_limit_retried() {
    let fixture = Fixture::default();
    {
        let mut repos = fixture.repos.lock().unwrap();
        for index in 0..250i64 {
            repos.push(repo(
                "o",
                &format!("r{index}"),
                START + index,
                &["mcp"],
                "x",
            ));
        }
    }
    let reset = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    // The first answer is fine but spends the last of the budget; the next request gets
    // a secondary limit.
    *fixture.scripted.lock().unwrap() =
        vec![Scripted::LastOfBudget { reset }, Scripted::SecondaryLimit];
    let base = start(fixture.clone()).await;
    let client = client(None);
    let outcome = github::search(&client, &base, &["topic:mcp"], &[], fixture_window())
        .await
        .unwrap();
    assert_eq!(outcome.servers.len(), 250, "nothing lost to the limits");
    let asked = fixture.asked.lock().unwrap().clone();
    assert_eq!(
        asked.len(),
        4,
        "probe, one refused page, then pages 2 and 3"
    );
    let reset_at = UNIX_EPOCH + Duration::from_secs(reset);
    for (uri, _, at) in &asked[1..] {
        assert!(
            *at >= reset_at,
            "{uri} was sent before the rate limit reset"
        );
    }
    let stats = client.stats();
    assert_eq!(stats.rate_limited_waits, 3, "{stats:?}"); // two budget waits + Retry-After
    assert_eq!(stats.retries, 1, "the secondary limit's page was retried");
    assert_eq!(stats.failures, 0);
}

#[tokio::test]
async fn a_budget_reset_too_far_away_is_an_error_not_a_hang() {
    let fixture = Fixture::default();
    fixture
        .repos
        .lock()
        .unwrap()
        .extend((0..150i64).map(|i| repo("o", &format!("r{i}"), START + i, &["mcp"], "x")));
    let reset = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3_600;
    *fixture.scripted.lock().unwrap() = vec![Scripted::LastOfBudget { reset }];
    let base = start(fixture.clone()).await;
    let error = github::search(&client(None), &base, &["topic:mcp"], &[], fixture_window())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("rate limited"), "{error}");
}

#[tokio::test]
async fn a_second_search_is_answered_by_etags_alone() {
    let fixture = Fixture::default();
    fixture.repos.lock().unwrap().extend(
        (0..1_500i64).map(|i| repo("o", &format!("r{i}"), START + i * 60_000, &["mcp"], "x")),
    );
    let base = start(fixture.clone()).await;
    let validators = Arc::new(MemoryValidators::default());
    let first = github::search(
        &client(Some(validators.clone())),
        &base,
        &["topic:mcp"],
        &[],
        fixture_window(),
    )
    .await
    .unwrap();
    assert_eq!(fixture.not_modified.load(Ordering::SeqCst), 0);
    let second_client = client(Some(validators));
    let second = github::search(&second_client, &base, &["topic:mcp"], &[], fixture_window())
        .await
        .unwrap();
    assert_eq!(first.servers, second.servers);
    let stats = second_client.stats();
    assert_eq!(stats.not_modified, stats.requests, "{stats:?}");
    assert_eq!(stats.bytes, 0, "no body was sent again");
    assert_eq!(
        fixture.not_modified.load(Ordering::SeqCst) as u64,
        stats.requests
    );
}

fn registry_page(entries: Vec<Value>) -> Vec<u8> {
    json!({"servers": entries, "metadata": {}})
        .to_string()
        .into_bytes()
}

fn registry_entry(name: &str, repository: &str) -> Value {
    json!({
        "server": {"name": name, "description": format!("{name} from the registry"),
                   "repository": {"url": repository, "source": "github"}},
        "_meta": {"io.modelcontextprotocol.registry/official": {"status": "active"}}
    })
}

#[tokio::test]
async fn a_crawl_merges_github_with_the_registry_and_sends_the_token_only_to_github() {
    let fixture = Fixture::default();
    {
        let mut repos = fixture.repos.lock().unwrap();
        let mut weather = repo("acme", "weather", START + 1, &["mcp-server"], "Weather");
        weather["stargazers_count"] = json!(77);
        repos.push(weather);
        repos.push(repo("solo", "thing", START + 2, &["mcp"], "A thing"));
        // Found only by code search (no topic, no words): its metadata is fetched.
        repos.push(repo("quiet", "sdk-user", START + 3, &[], "uses the SDK"));
    }
    fixture.files.lock().unwrap().insert(
        "/v0.1/servers".to_owned(),
        registry_page(vec![registry_entry(
            "io.github.acme/weather",
            "https://github.com/Acme/weather.git",
        )]),
    );
    let base = start(fixture.clone()).await;
    let catalog = Arc::new(Mutex::new(Catalog::open_in_memory().unwrap()));
    let config = CrawlConfig {
        sources: vec![Source::Registry, Source::Github],
        registry_url: base.clone(),
        github_url: base.clone(),
        github_token: Some("test-token".to_owned()),
        github_window: Some(fixture_window()),
        http: quick_http(),
        ..CrawlConfig::default()
    };
    let summary = crawl(catalog.clone(), config, &NoProgress, pending())
        .await
        .unwrap();
    assert!(!summary.has_problems(), "{summary:?}");
    assert_eq!(summary.sources["github"].discovered, 3);
    assert_eq!(summary.sources["github"].stored, 3);
    let catalog = catalog.lock().unwrap();
    assert_eq!(catalog.stats().unwrap().servers, 3, "weather is one server");
    let weather = catalog
        .find_servers("io.github.acme/weather")
        .unwrap()
        .into_iter()
        .chain(catalog.find_servers("acme/weather").unwrap())
        .next()
        .unwrap();
    let mut sources: Vec<&str> = weather
        .record
        .sources
        .iter()
        .map(|s| s.source.as_str())
        .collect();
    sources.sort();
    assert_eq!(sources, ["github", "registry"]);
    assert_eq!(
        weather.record.stars,
        Some(77),
        "GitHub's metadata merged in"
    );
    let quiet = catalog.find_servers("quiet/sdk-user").unwrap().remove(0);
    assert_eq!(quiet.record.license.as_deref(), Some("MIT"));
    let asked = fixture.asked.lock().unwrap();
    for (uri, token, _) in asked.iter() {
        assert_eq!(
            *token,
            !uri.starts_with("/v0.1/"),
            "{uri}: the token goes to GitHub and nowhere else"
        );
    }
    assert!(
        asked
            .iter()
            .any(|(uri, ..)| uri.starts_with("/search/code"))
    );
    assert!(asked.iter().any(|(uri, ..)| uri == "/repos/quiet/sdk-user"));
}

#[tokio::test]
async fn without_a_token_there_is_no_code_search_and_an_unreachable_github_is_reported() {
    let fixture = Fixture::default();
    fixture
        .repos
        .lock()
        .unwrap()
        .push(repo("quiet", "sdk-user", START + 3, &[], "uses the SDK"));
    let base = start(fixture.clone()).await;
    let catalog = Arc::new(Mutex::new(Catalog::open_in_memory().unwrap()));
    let config = CrawlConfig {
        sources: vec![Source::Github],
        github_url: base.clone(),
        github_window: Some(fixture_window()),
        http: quick_http(),
        ..CrawlConfig::default()
    };
    let summary = crawl(catalog.clone(), config.clone(), &NoProgress, pending())
        .await
        .unwrap();
    assert!(!summary.has_problems(), "{summary:?}");
    assert_eq!(summary.sources["github"].discovered, 0);
    assert!(
        !fixture
            .asked
            .lock()
            .unwrap()
            .iter()
            .any(|(uri, ..)| uri.starts_with("/search/code"))
    );

    let unreachable = CrawlConfig {
        github_url: "http://127.0.0.1:1".to_owned(),
        http: HttpConfig {
            max_retries: 0,
            ..quick_http()
        },
        ..config
    };
    let summary = crawl(catalog, unreachable, &NoProgress, pending())
        .await
        .unwrap();
    let reason = summary.sources["github"].unreachable.as_deref().unwrap();
    assert!(reason.contains("127.0.0.1:1"), "{reason}");
}

/// A gzipped tarball laid out like GitHub's: one `owner-repo-<commit>/` folder.
fn tarball(files: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, text) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, path, text.as_bytes())
            .unwrap();
    }
    let tar = builder.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

#[tokio::test]
async fn the_source_tarball_unpacks_to_the_repository_or_its_subfolder() {
    let fixture = Fixture::default();
    fixture.files.lock().unwrap().insert(
        "/repos/acme/servers/tarball".to_owned(),
        tarball(&[
            ("acme-servers-1a2b3c/README.md", "# servers"),
            (
                "acme-servers-1a2b3c/src/fetch/package.json",
                "{\"name\": \"fetch\"}",
            ),
        ]),
    );
    let base = start(fixture.clone()).await;
    let client = client(None);
    assert_eq!(
        github::tarball_url(&base, "acme/servers"),
        format!("{base}/repos/acme/servers/tarball")
    );
    let scratch = tempfile::tempdir().unwrap();
    let root = github::fetch_source(
        &client,
        &base,
        "https://github.com/acme/servers",
        &scratch.path().join("whole"),
        UnpackLimits::default(),
    )
    .await
    .unwrap();
    assert!(root.join("README.md").is_file());
    let folder = github::fetch_source(
        &client,
        &base,
        "https://github.com/acme/servers/tree/HEAD/src/fetch",
        &scratch.path().join("folder"),
        UnpackLimits::default(),
    )
    .await
    .unwrap();
    assert!(folder.join("package.json").is_file());
    assert!(folder.starts_with(scratch.path()));
    let missing = github::fetch_source(
        &client,
        &base,
        "https://github.com/acme/servers/tree/HEAD/src/nope",
        &scratch.path().join("missing"),
        UnpackLimits::default(),
    )
    .await
    .unwrap_err();
    assert!(
        missing.to_string().contains("no folder `src/nope`"),
        "{missing}"
    );
    let not_github = github::fetch_source(
        &client,
        &base,
        "https://gitlab.com/acme/servers",
        &scratch.path().join("x"),
        UnpackLimits::default(),
    )
    .await
    .unwrap_err();
    assert!(
        not_github.to_string().contains("not a GitHub repository"),
        "{not_github}"
    );
}

/// A crawl of the registry and GitHub into an on-disk catalogue, without tool extraction.
fn incremental_config(base: &str) -> CrawlConfig {
    CrawlConfig {
        sources: vec![Source::Registry, Source::Github],
        registry_url: base.to_owned(),
        github_url: base.to_owned(),
        github_window: Some(fixture_window()),
        extract_tools: false,
        http: quick_http(),
        ..CrawlConfig::default()
    }
}

fn search_uris(fixture: &Fixture) -> Vec<String> {
    fixture
        .asked
        .lock()
        .unwrap()
        .iter()
        .map(|(uri, ..)| uri.clone())
        .filter(|uri| uri.starts_with("/search/repositories"))
        .collect()
}

/// A query parameter of a request the fixture saw, decoded.
fn param(uri: &str, name: &str) -> Option<String> {
    reqwest::Url::parse(&format!("http://fixture{uri}"))
        .unwrap()
        .query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

#[tokio::test]
async fn a_second_crawl_asks_only_what_changed_and_still_marks_everything_seen() {
    let fixture = Fixture::default();
    {
        let mut repos = fixture.repos.lock().unwrap();
        // 1,500 repositories over ~2.9 years: the first search splits its window.
        repos.extend((0..1_500i64).map(|i| {
            repo(
                "o",
                &format!("r{i}"),
                START + i * 60_000,
                &["mcp-server"],
                "x",
            )
        }));
        repos[7]["archived"] = json!(true);
    }
    fixture.files.lock().unwrap().insert(
        "/v0.1/servers".to_owned(),
        registry_page(vec![registry_entry(
            "io.github.acme/weather",
            "https://github.com/acme/weather",
        )]),
    );
    let base = start(fixture.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    let catalog = Arc::new(Mutex::new(Catalog::open(&path).unwrap()));

    let first = crawl(
        catalog.clone(),
        incremental_config(&base),
        &NoProgress,
        pending(),
    )
    .await
    .unwrap();
    assert!(!first.has_problems(), "{first:?}");
    assert_eq!(first.sources["github"].stored, 1_500);
    {
        let catalog = catalog.lock().unwrap();
        let archived = catalog.find_servers("o/r7").unwrap().remove(0);
        assert_eq!(
            archived.record.archived,
            Some(true),
            "GitHub's flag is stored"
        );
        let active = catalog.find_servers("o/r8").unwrap().remove(0);
        assert_eq!(active.record.archived, Some(false));
    }
    let first_searches = search_uris(&fixture);
    assert!(
        first_searches
            .iter()
            .any(|uri| param(uri, "page").as_deref() == Some("2")),
        "the first crawl reads every page"
    );
    fixture.asked.lock().unwrap().clear();
    // Age every server, to see which ones the second crawl marks seen.
    let sql = rusqlite::Connection::open(&path).unwrap();
    sql.execute("UPDATE servers SET last_seen = '2000-01-01T00:00:00Z'", [])
        .unwrap();

    let second = crawl(
        catalog.clone(),
        incremental_config(&base),
        &NoProgress,
        pending(),
    )
    .await
    .unwrap();
    assert!(!second.has_problems(), "{second:?}");
    let github = &second.sources["github"];
    assert_eq!((github.stored, github.unchanged), (0, 1_500), "{github:?}");
    assert_eq!(second.sources["registry"].stored, 0);
    let searches = search_uris(&fixture);
    assert!(
        searches.len() < first_searches.len() / 3,
        "{} searches, {} the first time",
        searches.len(),
        first_searches.len()
    );
    for uri in &searches {
        assert_eq!(param(uri, "page").as_deref(), Some("1"), "{uri}");
        assert_eq!(param(uri, "sort").as_deref(), Some("updated"), "{uri}");
    }
    let registry_asks: Vec<String> = fixture
        .asked
        .lock()
        .unwrap()
        .iter()
        .map(|(uri, ..)| uri.clone())
        .filter(|uri| uri.starts_with("/v0.1/servers"))
        .collect();
    assert_eq!(registry_asks.len(), 1);
    let since = param(&registry_asks[0], "updated_since").expect("an incremental listing");
    assert!(since.ends_with('Z') && since.len() == 20, "{since}");
    let stale: i64 = sql
        .query_row(
            "SELECT count(*) FROM servers WHERE last_seen = '2000-01-01T00:00:00Z'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(stale, 0, "every server seen again advanced last_seen");

    // One repository is archived and starred: its update brings it to the first page of
    // its window, which is read again; nothing else is.
    {
        let mut repos = fixture.repos.lock().unwrap();
        repos[42]["archived"] = json!(true);
        repos[42]["stargazers_count"] = json!(999);
        repos[42]["updated_at"] = json!(iso(START + 6 * 365 * 86_400));
    }
    fixture.asked.lock().unwrap().clear();
    let third = crawl(
        catalog.clone(),
        incremental_config(&base),
        &NoProgress,
        pending(),
    )
    .await
    .unwrap();
    assert!(!third.has_problems(), "{third:?}");
    assert_eq!(third.sources["github"].stored, 1, "{third:?}");
    let changed = catalog
        .lock()
        .unwrap()
        .find_servers("o/r42")
        .unwrap()
        .remove(0);
    assert_eq!(changed.record.archived, Some(true));
    assert_eq!(changed.record.stars, Some(999));
    assert!(
        search_uris(&fixture)
            .iter()
            .any(|uri| param(uri, "page").as_deref() == Some("2")),
        "the changed window is read in full"
    );
}

#[tokio::test]
async fn since_reaches_github_as_pushed_and_the_registry_as_updated_since() {
    let fixture = Fixture::default();
    {
        let mut repos = fixture.repos.lock().unwrap();
        repos.push(repo("old", "quiet", START + 10, &["mcp-server"], "x"));
        let mut fresh = repo("new", "busy", START + 20, &["mcp-server"], "x");
        fresh["pushed_at"] = json!("2025-06-01T00:00:00Z");
        repos.push(fresh);
    }
    fixture
        .files
        .lock()
        .unwrap()
        .insert("/v0.1/servers".to_owned(), registry_page(vec![]));
    let base = start(fixture.clone()).await;
    let catalog = Arc::new(Mutex::new(Catalog::open_in_memory().unwrap()));
    let config = CrawlConfig {
        since: Some("2025-01-01".to_owned()),
        ..incremental_config(&base)
    };
    let summary = crawl(catalog.clone(), config.clone(), &NoProgress, pending())
        .await
        .unwrap();
    assert!(!summary.has_problems(), "{summary:?}");
    assert_eq!(summary.sources["github"].stored, 1);
    assert_eq!(
        catalog
            .lock()
            .unwrap()
            .find_servers("new/busy")
            .unwrap()
            .len(),
        1
    );
    let searches = search_uris(&fixture);
    assert!(!searches.is_empty());
    for uri in &searches {
        let q = param(uri, "q").unwrap();
        assert!(q.contains(" pushed:>=2025-01-01 "), "{q}");
    }
    let asked = fixture.asked.lock().unwrap().clone();
    let registry = asked
        .iter()
        .find(|(uri, ..)| uri.starts_with("/v0.1/servers"))
        .unwrap();
    assert_eq!(
        param(&registry.0, "updated_since").as_deref(),
        Some("2025-01-01T00:00:00Z")
    );

    let error = crawl(
        catalog.clone(),
        CrawlConfig {
            since: Some("last tuesday".to_owned()),
            ..config
        },
        &NoProgress,
        pending(),
    )
    .await
    .unwrap_err();
    assert!(error.to_string().contains("last tuesday"), "{error}");
    let catalog = catalog.lock().unwrap();
    let last = catalog.last_crawl_run().unwrap().unwrap();
    assert_eq!(
        last.status, "finished",
        "no run is recorded for a refused --since"
    );
}

/// Every (query words, window) whose first page the fixture was asked for. A full listing
/// asks the whole range and each split of it; an incremental run asks only the last run's
/// leaf windows.
fn first_pages(fixture: &Fixture) -> std::collections::BTreeSet<(String, Option<(i64, i64)>)> {
    search_uris(fixture)
        .iter()
        .filter(|uri| param(uri, "page").as_deref() == Some("1"))
        .map(|uri| parse_query(&param(uri, "q").unwrap()))
        .collect()
}

/// A `mcpwarden crawl` process killed (SIGKILL) while an incremental GitHub listing is half
/// read leaves a catalogue that opens, answers and keeps every server, and the next crawl
/// lists in full again: the killed run had already forgotten the previous run's windows and
/// never got to save its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crawl_process_killed_while_listing_lists_in_full_next_time() {
    let fixture = Fixture::default();
    fixture.repos.lock().unwrap().extend((0..1_200i64).map(|i| {
        repo(
            "o",
            &format!("r{i}"),
            START + i * 60_000,
            &["mcp-server"],
            "x",
        )
    }));
    let base = start(fixture.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("catalog.db");
    let crawl_command = || {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_mcpwarden"));
        command
            .arg("--db")
            .arg(&db)
            .args(["crawl", "--source", "github", "--no-extract", "--json"])
            .args(["--github-url", &base])
            .env_remove("GITHUB_TOKEN")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        command
    };
    let run_to_the_end = |mut command: std::process::Command| async move {
        let output = tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<Value>(&output.stdout).unwrap()
    };
    let count_servers = || -> i64 {
        rusqlite::Connection::open(&db)
            .unwrap()
            .query_row("SELECT count(*) FROM servers", [], |row| row.get(0))
            .unwrap()
    };

    let first = run_to_the_end(crawl_command()).await;
    assert_eq!(first["sources"]["github"]["stored"], 1_200, "{first}");
    let full_listing = first_pages(&fixture);

    // One repository changes: the incremental run reads its window past the first page,
    // and that page never answers. Kill the process there.
    {
        let mut repos = fixture.repos.lock().unwrap();
        repos[42]["stargazers_count"] = json!(999);
        repos[42]["updated_at"] = json!(iso(START + 6 * 365 * 86_400));
    }
    fixture.asked.lock().unwrap().clear();
    fixture.hang_later_pages.store(true, Ordering::SeqCst);
    let mut second = crawl_command().spawn().unwrap();
    let mut waited = 0;
    while !search_uris(&fixture)
        .iter()
        .any(|uri| param(uri, "page").as_deref() == Some("2"))
    {
        assert!(
            second.try_wait().unwrap().is_none(),
            "the crawl ended early"
        );
        assert!(waited < 600, "no second page asked for in 30 s");
        waited += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second_run = first_pages(&fixture);
    assert!(
        second_run.is_subset(&full_listing) && second_run.len() < full_listing.len(),
        "the second run is incremental: {second_run:?}"
    );
    second.kill().unwrap(); // SIGKILL: no clean-up runs
    second.wait().unwrap();

    let stats = std::process::Command::new(env!("CARGO_BIN_EXE_mcpwarden"))
        .arg("--db")
        .arg(&db)
        .args(["catalog", "stats", "--json"])
        .output()
        .unwrap();
    assert!(
        stats.status.success(),
        "the killed crawl's catalogue opens: {}",
        String::from_utf8_lossy(&stats.stderr)
    );
    let integrity: String = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    assert_eq!(count_servers(), 1_200, "nothing stored was lost");

    fixture.hang_later_pages.store(false, Ordering::SeqCst);
    fixture.asked.lock().unwrap().clear();
    let third = run_to_the_end(crawl_command()).await;
    assert_eq!(third["status"], "finished", "{third}");
    assert_eq!(
        first_pages(&fixture),
        full_listing,
        "listed in full, not from windows the killed run left behind"
    );
    let github = &third["sources"]["github"];
    assert_eq!(
        github["stored"].as_u64().unwrap() + github["unchanged"].as_u64().unwrap(),
        1_200,
        "{third}"
    );
    assert_eq!(count_servers(), 1_200);
    let stars: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT stars FROM servers WHERE name = 'o/r42'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(stars, 999, "the change the killed run missed is stored");
}
