//! The crawl: discover servers from each enabled source into the frontier, then work the
//! frontier with bounded concurrency, merging every sighting into the catalogue.
//!
//! Resumable by construction: discovery writes the frontier before any fetch, every item
//! is marked done in its own transaction right after its server is stored, and
//! `--resume` skips discovery and works only what is pending. Storing is idempotent, so an
//! item redone after a kill between "stored" and "done" changes nothing.
//!
//! A source that cannot be reached is reported and the others go on.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use super::http::{
    CachedResponse, HttpClient, HttpConfig, HttpError, HttpStatsSnapshot, ValidatorStore,
};
use super::live;
use super::packages;
use super::registry;
use super::tools::{self, Extractor, SourceToRead};
use super::{github, local};
use crate::catalog::{CachedHttp, Catalog, FrontierItem, NewItem, ServerEntry};
use crate::classify::RuleSet;
use crate::model::ServerRecord;
use crate::progress::Progress;

/// The seed list shipped with mcpwarden: the official registry's early seed file
/// (471 servers), as catalogue JSON Lines without tools.
pub const SHIPPED_SEEDS: &str = include_str!("../../data/seeds/registry-seed-2025-05-16.jsonl");

/// A crawl source that can be turned on and off with `--source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The official MCP registry's list API.
    Registry,
    /// Seed lists: the shipped one, or `--seeds FILE`.
    Seeds,
    /// npm packages by name (`--npm NAME`, and every npm package another source names).
    Npm,
    /// PyPI projects by name (`--pypi NAME`, and every PyPI package another source names).
    Pypi,
    /// GitHub repository search (and code search with a token), through `--github-url`.
    Github,
    /// Local checkouts: `--dir PATH`.
    Local,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Registry => "registry",
            Source::Seeds => "seeds",
            Source::Npm => "npm",
            Source::Pypi => "pypi",
            Source::Github => "github",
            Source::Local => "local",
        }
    }
}

/// Everything a crawl needs to know, resolved from flags and environment by the CLI.
#[derive(Debug, Clone)]
pub struct CrawlConfig {
    pub sources: Vec<Source>,
    pub registry_url: String,
    /// Seed files to read; empty means the shipped seed list.
    pub seed_files: Vec<PathBuf>,
    pub npm_registry: Option<String>,
    pub pypi_index: Option<String>,
    pub npm_packages: Vec<String>,
    pub pypi_packages: Vec<String>,
    /// The GitHub API's base URL (see [`github::github_api_url`]).
    pub github_url: String,
    /// Sent to GitHub only; enables code search.
    pub github_token: Option<String>,
    /// The creation-date window GitHub searches cover (default: all of GitHub's history).
    pub github_window: Option<github::Window>,
    /// `--dir`: checkouts, or folders of checkouts.
    pub local_dirs: Vec<PathBuf>,
    /// Stop after this many servers are stored.
    pub limit: Option<usize>,
    /// Only registry entries updated since this time, and GitHub repositories pushed
    /// since it (see [`since_forms`]).
    pub since: Option<String>,
    /// List every source in full, ignoring what the last crawl remembered (the registry's
    /// last listing time, GitHub's search windows).
    pub full_listing: bool,
    pub resume: bool,
    pub concurrency: usize,
    /// Download each package's archive (or GitHub tarball, or read each local checkout)
    /// and extract and classify its tools.
    pub extract_tools: bool,
    /// Tries per frontier item across runs before it is left failed.
    pub max_attempts: u32,
    /// The most fetched items stored (and marked done) in one transaction.
    pub store_batch: usize,
    /// Store every discovered sighting again even when it is exactly what the last crawl
    /// stored (the behaviour before unchanged items were skipped; for measurements).
    pub revisit_unchanged: bool,
    pub http: HttpConfig,
    /// Runs npm and PyPI servers in the sandbox when their source does not settle their
    /// tools (`crawl --live`); `None`: never.
    pub live: live::SharedLiveRunner,
}

impl Default for CrawlConfig {
    fn default() -> Self {
        CrawlConfig {
            sources: vec![Source::Registry, Source::Seeds],
            registry_url: registry::DEFAULT_REGISTRY_URL.to_owned(),
            seed_files: Vec::new(),
            npm_registry: None,
            pypi_index: None,
            npm_packages: Vec::new(),
            pypi_packages: Vec::new(),
            github_url: github::DEFAULT_GITHUB_API.to_owned(),
            github_token: None,
            github_window: None,
            local_dirs: Vec::new(),
            limit: None,
            since: None,
            full_listing: false,
            resume: false,
            concurrency: 16,
            extract_tools: true,
            max_attempts: 3,
            store_batch: STORE_BATCH,
            revisit_unchanged: false,
            http: HttpConfig::default(),
            live: None,
        }
    }
}

/// What one source did in a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SourceSummary {
    pub discovered: usize,
    /// Discovered exactly as in the last crawl that stored them: nothing to do.
    pub unchanged: usize,
    pub stored: usize,
    pub failed: usize,
    /// Tools extracted (and classified) from the servers this source stored.
    pub tools: usize,
    /// Servers whose source could not be fetched or read for tools (stored without).
    pub tools_failed: usize,
    /// Why the source could not be listed at all, if it could not.
    pub unreachable: Option<String>,
    /// The first few item failures, `key: reason`.
    pub errors: Vec<String>,
}

/// What a run did, printed at the end and stored in `crawl_runs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CrawlSummary {
    pub run_id: i64,
    pub resumed: bool,
    /// `finished` or `interrupted`.
    pub status: String,
    pub sources: BTreeMap<String, SourceSummary>,
    pub http: HttpStatsSnapshot,
    pub seconds: f64,
}

impl CrawlSummary {
    /// Whether anything failed or a source was out of reach.
    pub fn has_problems(&self) -> bool {
        self.sources
            .values()
            .any(|source| source.failed > 0 || source.unreachable.is_some())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CrawlError {
    #[error("there is no unfinished crawl to resume; run `mcpwarden crawl` without --resume")]
    NothingToResume,
    #[error("cannot read the seed file {path}")]
    ReadSeeds {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Catalog(#[from] crate::catalog::Error),
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("cannot prepare tool extraction: {0}")]
    Scratch(String),
    #[error("--since `{value}` is not a date (YYYY-MM-DD) or an RFC 3339 time")]
    BadSince { value: String },
}

/// How many item errors a source summary quotes.
const QUOTED_ERRORS: usize = 10;

type SharedCatalog = Arc<Mutex<Catalog>>;

fn lock(catalog: &SharedCatalog) -> MutexGuard<'_, Catalog> {
    // A panic while holding the lock would be a bug; the catalogue itself is transactional,
    // so carrying on with it is safe.
    catalog
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// HTTP validators kept in the catalogue's `http_cache`, so a second crawl asks "changed?"
/// instead of downloading everything again.
struct CatalogValidators(SharedCatalog);

impl ValidatorStore for CatalogValidators {
    fn get(&self, url: &str) -> Option<CachedResponse> {
        let cached = lock(&self.0).http_cache_get(url).ok()??;
        Some(CachedResponse {
            etag: cached.etag,
            last_modified: cached.last_modified,
            body: cached.body,
        })
    }

    fn put(&self, url: &str, response: CachedResponse) {
        let cached = CachedHttp {
            etag: response.etag,
            last_modified: response.last_modified,
            body: response.body,
        };
        // Losing a validator only costs a full download next time.
        let _ = lock(&self.0).http_cache_put(url, &cached);
    }
}

/// Runs a crawl into `catalog`. Ends early, as `interrupted`, when `stop` resolves.
pub async fn crawl(
    catalog: SharedCatalog,
    config: CrawlConfig,
    progress: &dyn Progress,
    stop: impl std::future::Future<Output = ()>,
) -> Result<CrawlSummary, CrawlError> {
    let started = Instant::now();
    // A bad --since is refused before a run is recorded (it would look resumable).
    if let Some(since) = &config.since {
        since_forms(since)?;
    }
    let validators: Arc<dyn ValidatorStore> = Arc::new(CatalogValidators(catalog.clone()));
    let client = Arc::new(HttpClient::new(
        config.http.clone(),
        Some(validators.clone()),
    )?);
    // GitHub gets a client of its own so its token is never sent to another host.
    let github_client = if config.sources.contains(&Source::Github) {
        Some(Arc::new(HttpClient::new(
            HttpConfig {
                headers: github::github_headers(config.github_token.as_deref()),
                ..config.http.clone()
            },
            Some(validators),
        )?))
    } else {
        None
    };
    let clients = Clients {
        general: client,
        github: github_client,
    };
    let mut summary = CrawlSummary {
        resumed: config.resume,
        ..CrawlSummary::default()
    };
    for source in &config.sources {
        summary
            .sources
            .insert(source.as_str().to_owned(), SourceSummary::default());
    }
    summary.run_id = if config.resume {
        lock(&catalog)
            .last_unfinished_crawl_run()?
            .ok_or(CrawlError::NothingToResume)?
            .id
    } else {
        let options = json!({
            "sources": config.sources,
            "registry_url": config.registry_url,
            "limit": config.limit,
            "since": config.since,
        });
        lock(&catalog).start_crawl_run(&options)?
    };
    if !config.resume {
        discover(&catalog, &clients, &config, &mut summary, progress).await?;
    }
    let interrupted = work(&catalog, &clients, &config, &mut summary, progress, stop).await?;
    summary.status = if interrupted {
        "interrupted"
    } else {
        "finished"
    }
    .to_owned();
    summary.http = clients.general.stats();
    if let Some(github) = &clients.github {
        summary.http = summary.http.plus(github.stats());
    }
    summary.seconds = started.elapsed().as_secs_f64();
    let stored = serde_json::to_value(&summary).unwrap_or(Value::Null);
    lock(&catalog).finish_crawl_run(summary.run_id, &summary.status, &stored)?;
    Ok(summary)
}

/// The crawl's HTTP clients: one for everything, one (with the token) for GitHub only.
struct Clients {
    general: Arc<HttpClient>,
    github: Option<Arc<HttpClient>>,
}

/// The `crawl_state` key under which the time of the last complete listing of a registry
/// is kept: the next run asks that registry only for what changed since (`updated_since`).
fn registry_state_key(registry_url: &str) -> String {
    format!("registry-listed {}", registry_url.trim_end_matches('/'))
}

/// The `crawl_state` key under which the last complete GitHub search's windows are kept.
fn github_state_key(api: &str) -> String {
    format!("github-windows {}", api.trim_end_matches('/'))
}

/// Per full query, the GitHub search windows a search ended with.
type SearchWindows = BTreeMap<String, Vec<github::Window>>;

/// How far before its start a listing's time is recorded: the registry stamps `updatedAt`
/// with its own clock, and an entry updated while we listed must be asked for again.
const REGISTRY_CLOCK_MARGIN: time::Duration = time::Duration::hours(1);

/// `--since` as the registry wants it (RFC 3339) and as GitHub's `pushed:>=` takes it.
/// Accepts `YYYY-MM-DD` (midnight UTC) or an RFC 3339 time.
pub fn since_forms(since: &str) -> Result<(String, String), CrawlError> {
    use time::format_description::well_known::Rfc3339;
    let since = since.trim();
    let bad = || CrawlError::BadSince {
        value: since.to_owned(),
    };
    if let Ok(moment) = time::OffsetDateTime::parse(since, &Rfc3339) {
        let utc = moment.to_offset(time::UtcOffset::UTC);
        let format =
            time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
        let text = utc.format(&format).map_err(|_| bad())?;
        return Ok((text.clone(), text));
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(since, &format).map_err(|_| bad())?;
    let day = date.format(&format).map_err(|_| bad())?;
    Ok((format!("{day}T00:00:00Z"), day))
}

fn rfc3339(moment: time::OffsetDateTime) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    moment
        .to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// A discovered sighting as a frontier item.
fn sighting_item(
    source: &str,
    key: String,
    record: &ServerRecord,
    listing: Option<String>,
) -> NewItem {
    NewItem {
        source: source.to_owned(),
        key,
        payload: record_payload(record),
        revisit: false,
        sighting: record
            .sources
            .first()
            .map(|seen| (seen.source.clone(), seen.id.clone())),
        listing,
    }
}

/// An item whose payload only names what to fetch: always worked again.
fn fetch_item(source: &str, key: String, payload: Value) -> NewItem {
    NewItem {
        source: source.to_owned(),
        key,
        payload: payload.to_string(),
        revisit: true,
        sighting: None,
        listing: None,
    }
}

/// Lists every enabled source into the frontier. Package names that a listing mentions
/// are queued for the npm and PyPI sources when those are on.
///
/// Incremental by default: the registry is asked only for entries updated since its last
/// complete listing, and GitHub's searches start from the last search's windows, skipping
/// those whose first page is unchanged. Both are remembered only once the listing's items
/// are in the frontier, so a crawl killed half-way listed in full next time.
async fn discover(
    catalog: &SharedCatalog,
    clients: &Clients,
    config: &CrawlConfig,
    summary: &mut CrawlSummary,
    progress: &dyn Progress,
) -> Result<(), CrawlError> {
    let enabled = |source| config.sources.contains(&source);
    let since = config.since.as_deref().map(since_forms).transpose()?;
    let incremental = !config.revisit_unchanged && !config.full_listing;
    let mut items: Vec<NewItem> = Vec::new();
    // Every package purl a listing named, for the npm and PyPI sources.
    let mut purls: Vec<String> = Vec::new();

    // The registry and GitHub are listed at the same time: they share no host.
    let registry_key = registry_state_key(&config.registry_url);
    let registry_since: Option<String> = match &since {
        Some((registry_form, _)) => Some(registry_form.clone()),
        None if incremental && enabled(Source::Registry) => lock(catalog)
            .crawl_state(&registry_key)?
            .and_then(|value| value.as_str().map(str::to_owned)),
        None => None,
    };
    let registry_started = time::OffsetDateTime::now_utc() - REGISTRY_CLOCK_MARGIN;
    let github_key = github_state_key(&config.github_url);
    let remembered: Option<SearchWindows> = if incremental && clients.github.is_some() {
        let catalog = lock(catalog);
        let value = catalog.crawl_state(&github_key)?;
        // Forgotten until this search's items are in the frontier (see above).
        catalog.set_crawl_state(&github_key, None)?;
        value.and_then(|value| serde_json::from_value(value).ok())
    } else {
        None
    };
    let registry_listing = async {
        if !enabled(Source::Registry) {
            return None;
        }
        progress.message(&format!("listing the registry at {}", config.registry_url));
        if let Some(since) = &registry_since {
            progress.message(&format!("registry: only entries updated since {since}"));
        }
        Some(
            registry::list_servers(
                &clients.general,
                &config.registry_url,
                registry_since.as_deref(),
                100,
                config.limit,
            )
            .await,
        )
    };
    let code_queries: &[&str] = if config.github_token.is_some() {
        github::CODE_QUERIES
    } else {
        &[]
    };
    let plan = github::SearchPlan {
        repository_queries: github::REPOSITORY_QUERIES,
        code_queries,
        window: config
            .github_window
            .unwrap_or_else(github::Window::all_time),
        pushed_since: since.as_ref().map(|(_, github_form)| github_form.as_str()),
        remembered: remembered.as_ref(),
    };
    let github_search = async {
        let client = clients.github.as_ref()?;
        progress.message(&format!("searching GitHub at {}", config.github_url));
        Some(github::search_with(client, &config.github_url, &plan).await)
    };
    let (registry_listing, github_search) = tokio::join!(registry_listing, github_search);

    let mut registry_complete = false;
    if let Some(listed) = registry_listing {
        let entry = summary.sources.entry("registry".to_owned()).or_default();
        match listed {
            Ok(listing) => {
                entry.discovered = listing.servers.len();
                registry_complete = config
                    .limit
                    .is_none_or(|limit| listing.servers.len() < limit);
                for record in listing.servers {
                    purls.extend(record.packages.iter().cloned());
                    items.push(sighting_item(
                        "registry",
                        record.name.clone(),
                        &record,
                        None,
                    ));
                }
            }
            Err(error) => {
                let reason = error_chain(&error);
                progress.message(&format!(
                    "registry unreachable, going on without it: {reason}"
                ));
                entry.unreachable = Some(reason);
            }
        }
    }
    if enabled(Source::Seeds) {
        let (seeds, bad_lines) = read_seeds(&config.seed_files)?;
        let entry = summary.sources.entry("seeds".to_owned()).or_default();
        entry.discovered = seeds.len();
        entry.failed += bad_lines.len();
        for bad in bad_lines {
            progress.message(&format!("seeds: {bad}"));
            if entry.errors.len() < QUOTED_ERRORS {
                entry.errors.push(bad);
            }
        }
        for record in seeds {
            purls.extend(record.packages.iter().cloned());
            items.push(sighting_item("seeds", record.name.clone(), &record, None));
        }
    }
    // The windows the search ended with, and those it did not read again.
    let mut github_done: Option<(SearchWindows, Vec<String>)> = None;
    if let Some(searched) = github_search {
        let entry = summary.sources.entry("github".to_owned()).or_default();
        match searched {
            Ok(mut outcome) => {
                entry.discovered = outcome.servers.len() + outcome.names_only.len();
                for note in &outcome.notes {
                    progress.message(&format!("github: {note}"));
                }
                if !outcome.unchanged_listings.is_empty() {
                    progress.message(&format!(
                        "github: {} search windows unchanged since the last crawl, not read again",
                        outcome.unchanged_listings.len()
                    ));
                }
                let servers = std::mem::take(&mut outcome.servers);
                for (key, record) in servers {
                    purls.extend(record.packages.iter().cloned());
                    let listing = outcome.listing_of.remove(&key).map(|l| l.to_string());
                    items.push(sighting_item("github", key, &record, listing));
                }
                // Found by code search only: the item fetches the repository's metadata.
                for name in &outcome.names_only {
                    items.push(fetch_item(
                        "github",
                        name.clone(),
                        json!({"full_name": name}),
                    ));
                }
                github_done = Some((outcome.leaves, outcome.unchanged_listings));
            }
            Err(error) => {
                let reason = error_chain(&error);
                progress.message(&format!(
                    "GitHub unreachable, going on without it: {reason}"
                ));
                entry.unreachable = Some(reason);
            }
        }
    }
    if enabled(Source::Local) {
        let entry = summary.sources.entry("local".to_owned()).or_default();
        let mut problems = Vec::new();
        for dir in &config.local_dirs {
            match local::discover(dir) {
                Ok(checkouts) => {
                    entry.discovered += checkouts.len();
                    for checkout in checkouts {
                        // A checkout's files can change under an unchanged manifest.
                        purls.extend(checkout.record.packages.iter().cloned());
                        let mut item = sighting_item(
                            "local",
                            checkout.path.display().to_string(),
                            &checkout.record,
                            None,
                        );
                        item.revisit = true;
                        items.push(item);
                    }
                }
                Err(error) => problems.push(error.to_string()),
            }
        }
        if config.local_dirs.is_empty() {
            problems.push("no folder given: pass --dir PATH".to_owned());
        }
        if !problems.is_empty() {
            progress.message(&format!("local: {}", problems.join("; ")));
            entry.unreachable = Some(problems.join("; "));
        }
    }
    for (source, prefix, named) in [
        (Source::Npm, "pkg:npm/", &config.npm_packages),
        (Source::Pypi, "pkg:pypi/", &config.pypi_packages),
    ] {
        if !enabled(source) {
            continue;
        }
        let mut names: Vec<String> = named.clone();
        names.extend(purls.iter().filter_map(|purl| package_name(purl, prefix)));
        names.sort();
        names.dedup();
        let entry = summary
            .sources
            .entry(source.as_str().to_owned())
            .or_default();
        entry.discovered = names.len();
        for name in names {
            items.push(fetch_item(
                source.as_str(),
                name.clone(),
                json!({"name": name}),
            ));
        }
    }
    if config.revisit_unchanged {
        for item in &mut items {
            item.revisit = true;
        }
    }
    let unchanged = lock(catalog).enqueue(summary.run_id, &items, true)?;
    drop(items);
    for (source, count) in unchanged {
        summary.sources.entry(source).or_default().unchanged = count;
    }
    // The listings' items are in the frontier: remember where the next run can start.
    let catalog = lock(catalog);
    if registry_complete && config.since.is_none() && incremental {
        catalog.set_crawl_state(
            &registry_key,
            Some(&Value::String(rfc3339(registry_started))),
        )?;
    }
    if let Some((leaves, unchanged_listings)) = github_done {
        let untouched = catalog.touch_listings("github", &unchanged_listings)?;
        if let Some(entry) = summary.sources.get_mut("github") {
            entry.discovered += untouched;
            entry.unchanged += untouched;
        }
        if incremental {
            let value = serde_json::to_value(&leaves).unwrap_or(Value::Null);
            catalog.set_crawl_state(&github_key, Some(&value))?;
        }
    }
    Ok(())
}

/// The package name in a purl of the given type, version and qualifiers removed.
fn package_name(purl: &str, prefix: &str) -> Option<String> {
    let rest = purl.strip_prefix(prefix)?;
    let name = rest.split(['@', '?', '#']).next()?;
    Some(name.replace("%40", "@"))
}

fn record_payload(record: &ServerRecord) -> String {
    serde_json::to_string(record).unwrap_or_default()
}

/// Reads seed files (see [`super::lists`]: JSON Lines, URLs and purls, or Markdown; `tools`
/// in JSON lines are ignored here) or the shipped list.
/// A line that does not parse is skipped and returned as `path:line: problem`; a file
/// that cannot be read at all is an error.
fn read_seeds(files: &[PathBuf]) -> Result<(Vec<ServerRecord>, Vec<String>), CrawlError> {
    let mut texts: Vec<(String, String)> = Vec::new();
    if files.is_empty() {
        texts.push(("(shipped seed list)".to_owned(), SHIPPED_SEEDS.to_owned()));
    }
    for path in files {
        let text = fs_err::read_to_string(path).map_err(|source| CrawlError::ReadSeeds {
            path: path.display().to_string(),
            source,
        })?;
        texts.push((path.display().to_string(), text));
    }
    let mut records = Vec::new();
    let mut bad_lines = Vec::new();
    for (path, text) in texts {
        let (found, problems) = super::lists::parse_seed_text(&path, &text);
        records.extend(found);
        bad_lines.extend(problems);
    }
    Ok((records, bad_lines))
}

/// Works the frontier until it is empty, the limit is reached, or `stop` resolves.
/// Returns whether it was stopped.
async fn work(
    catalog: &SharedCatalog,
    clients: &Clients,
    config: &CrawlConfig,
    summary: &mut CrawlSummary,
    progress: &dyn Progress,
    stop: impl std::future::Future<Output = ()>,
) -> Result<bool, CrawlError> {
    let source_names: Vec<&str> = config
        .sources
        .iter()
        .map(|source| source.as_str())
        .collect();
    let pending = lock(catalog).pending_items(&source_names, config.max_attempts)?;
    progress.start("crawling", Some(pending.len() as u64));
    let mut per_source: BTreeMap<&str, u64> = BTreeMap::new();
    for item in &pending {
        *per_source.entry(item.source.as_str()).or_default() += 1;
    }
    for (source, total) in per_source {
        progress.start_source(source, total);
    }
    let permits = Arc::new(Semaphore::new(config.concurrency.max(1)));
    // Downloads go to one scratch folder for the run, removed when the run ends.
    let scratch = tempfile::Builder::new()
        .prefix("mcpwarden-crawl-")
        .tempdir()
        .map_err(|error| CrawlError::Scratch(error.to_string()))?;
    let extractor = if config.extract_tools {
        let rules = RuleSet::embedded().map_err(|error| CrawlError::Scratch(error.to_string()))?;
        Some(Arc::new(Extractor::new(
            rules,
            scratch.path().to_path_buf(),
        )))
    } else {
        None
    };
    let context = Arc::new(WorkContext {
        client: clients.general.clone(),
        github_client: clients.github.clone(),
        github_url: config.github_url.clone(),
        extractor,
        npm_registry: tokio::sync::OnceCell::new(),
        pypi_index: tokio::sync::OnceCell::new(),
        npm_flag: config.npm_registry.clone(),
        pypi_flag: config.pypi_index.clone(),
        permits,
        live: config.live.clone(),
    });
    // Items are spawned as room frees up, not all at once: a task holds its item and its
    // future's state, and 50,000 of them waiting on the semaphore cost memory for nothing.
    // Twice the concurrency (at least a store batch) keeps every permit busy and lets
    // finished items gather into batches while the last batch is written.
    let in_flight = (config.concurrency.max(1) * 2).max(config.store_batch.max(1));
    let mut queue = pending.into_iter();
    let mut tasks = tokio::task::JoinSet::new();
    let top_up = |tasks: &mut tokio::task::JoinSet<_>,
                  queue: &mut std::vec::IntoIter<FrontierItem>| {
        while tasks.len() < in_flight {
            let Some(item) = queue.next() else { break };
            tasks.spawn(work_item(context.clone(), item));
        }
    };
    let mut stored_total = 0usize;
    tokio::pin!(stop);
    loop {
        if config.limit.is_none_or(|limit| stored_total < limit) {
            top_up(&mut tasks, &mut queue);
        }
        let next = tokio::select! {
            biased;
            () = &mut stop => {
                tasks.abort_all();
                progress.finish();
                progress.message("interrupted: what is done is stored; `mcpwarden crawl --resume` goes on from here");
                return Ok(true);
            }
            next = tasks.join_next() => next,
        };
        let Some(joined) = next else { break };
        let Ok(first) = joined else {
            continue;
        };
        // Everything else already finished joins this batch: one transaction for all.
        let mut batch = vec![first];
        while batch.len() < config.store_batch.max(1) {
            match tasks.try_join_next() {
                Some(Ok(done)) => batch.push(done),
                Some(Err(_)) => continue,
                None => break,
            }
        }
        if let Some(limit) = config.limit {
            // Past the limit, items stay pending for a later run.
            let room = limit.saturating_sub(stored_total);
            let mut kept = 0;
            batch.retain(|(_, outcome, _)| {
                let keep = outcome.is_err() || kept < room;
                kept += usize::from(outcome.is_ok() && keep);
                keep
            });
        }
        let outcomes = store_batch(catalog, &batch);
        for ((item, _, extracted), outcome) in batch.iter().zip(outcomes) {
            progress.advance(1);
            progress.advance_source(&item.source, outcome.is_err());
            let entry = summary.sources.entry(item.source.clone()).or_default();
            entry.tools += extracted.tools;
            if let Some(error) = &extracted.failure {
                entry.tools_failed += 1;
                if entry.errors.len() < QUOTED_ERRORS {
                    entry
                        .errors
                        .push(format!("{}: tools not read: {error}", item.key));
                }
                progress.message(&format!(
                    "{} {}: tools not read: {error}",
                    item.source, item.key
                ));
            }
            match outcome {
                Ok(()) => {
                    entry.stored += 1;
                    stored_total += 1;
                }
                Err(error) => {
                    entry.failed += 1;
                    if entry.errors.len() < QUOTED_ERRORS {
                        entry.errors.push(format!("{}: {error}", item.key));
                    }
                    progress.message(&format!("{} {}: {error}", item.source, item.key));
                }
            }
        }
        if config.limit.is_some_and(|limit| stored_total >= limit) {
            tasks.abort_all();
            break;
        }
    }
    progress.finish();
    Ok(false)
}

/// What every item's task shares.
struct WorkContext {
    client: Arc<HttpClient>,
    github_client: Option<Arc<HttpClient>>,
    github_url: String,
    extractor: Option<Arc<Extractor>>,
    npm_registry: tokio::sync::OnceCell<String>,
    pypi_index: tokio::sync::OnceCell<String>,
    npm_flag: Option<String>,
    pypi_flag: Option<String>,
    permits: Arc<Semaphore>,
    live: live::SharedLiveRunner,
}

/// Works one frontier item: reads its sighting (or fetches the package or repository it
/// names), then, when extraction is on, reads its tools.
async fn work_item(
    context: Arc<WorkContext>,
    item: FrontierItem,
) -> (FrontierItem, Result<ServerEntry, String>, Extracted) {
    let Ok(_permit) = context.permits.clone().acquire_owned().await else {
        return (
            item,
            Err("the crawl is shutting down".to_owned()),
            Extracted::default(),
        );
    };
    let record = match item.source.as_str() {
        "registry" | "seeds" | "github" | "local" => {
            let to_read = match item.source.as_str() {
                "github" => SourceToRead::Github,
                "local" => SourceToRead::Dir(PathBuf::from(&item.key)),
                _ => SourceToRead::Nothing,
            };
            match serde_json::from_str::<ServerRecord>(&item.payload) {
                Ok(record) => Ok((record, to_read)),
                // Found by code search only (`{"full_name": ...}`): fetch its metadata.
                Err(_) if item.source == "github" => match &context.github_client {
                    Some(github_client) => {
                        github::repository(github_client, &context.github_url, &item.key)
                            .await
                            .map(|record| (record, SourceToRead::Github))
                            .map_err(|error| error_chain(&error))
                    }
                    None => Err("the GitHub source is off".to_owned()),
                },
                Err(error) => Err(format!("bad frontier payload: {error}")),
            }
        }
        "npm" => {
            let registry = context
                .npm_registry
                .get_or_try_init(|| async { packages::npm_registry(context.npm_flag.as_deref()) })
                .await;
            match registry {
                Ok(registry) => packages::npm_package(&context.client, registry, &item.key)
                    .await
                    .map(|found| (found.record, SourceToRead::Archive(found.archive_url)))
                    .map_err(|error| error_chain(&error)),
                Err(error) => Err(error_chain(&error)),
            }
        }
        "pypi" => {
            let index = context
                .pypi_index
                .get_or_try_init(|| async { packages::pypi_index(context.pypi_flag.as_deref()) })
                .await;
            match index {
                Ok(index) => packages::pypi_package(&context.client, index, &item.key)
                    .await
                    .map(|found| (found.record, SourceToRead::Archive(found.archive_url)))
                    .map_err(|error| error_chain(&error)),
                Err(error) => Err(error_chain(&error)),
            }
        }
        other => Err(format!("no source named {other}")),
    };
    let mut extracted = Extracted::default();
    let mut live_listing = None;
    let entry = match record {
        Ok((record, to_read)) => {
            let (tools, tools_unread) = match &context.extractor {
                Some(extractor) => {
                    let github = context
                        .github_client
                        .as_deref()
                        .map(|c| (c, context.github_url.as_str()));
                    match extractor
                        .read(&context.client, github, to_read, &record)
                        .await
                    {
                        Ok(found) => {
                            let (tools, unread, live) =
                                with_live(&context, &item, &record, extractor, found).await;
                            extracted.tools = tools.as_ref().map_or(0, Vec::len);
                            live_listing = live;
                            (tools, unread)
                        }
                        Err(error) => {
                            extracted.failure = Some(error);
                            (None, None)
                        }
                    }
                }
                None => (None, None),
            };
            Ok(ServerEntry {
                tools_unread,
                server: record,
                tools,
                live: live_listing,
            })
        }
        Err(error) => Err(error),
    };
    (item, entry, extracted)
}

/// For an npm or PyPI item the live runner wants: runs the server in the sandbox and
/// merges what it lists with what its source showed. Otherwise the static reading as is.
async fn with_live(
    context: &WorkContext,
    item: &FrontierItem,
    record: &ServerRecord,
    extractor: &Extractor,
    found: tools::ExtractedTools,
) -> (
    Option<Vec<crate::catalog::ToolEntry>>,
    Option<String>,
    Option<crate::model::LiveListing>,
) {
    let Some(runner) = &context.live else {
        return (found.tools, found.unread, None);
    };
    let static_count = found.tools.as_ref().map_or(0, Vec::len);
    if !matches!(item.source.as_str(), "npm" | "pypi")
        || !runner.wanted(static_count, found.unresolved, found.unread.is_some())
    {
        return (found.tools, found.unread, None);
    }
    let Some(live) = runner.list(record).await else {
        return (found.tools, found.unread, None);
    };
    let (tools, listing) = live::merge(
        found.tools,
        live,
        record,
        extractor.rules(),
        runner.sandboxed(),
        crate::catalog::now_rfc3339(),
    );
    // Tools read live settle the "could not read" marker.
    let unread = if listing.listed.is_some_and(|listed| listed > 0) {
        None
    } else {
        found.unread
    };
    (tools, unread, Some(listing))
}

/// The most fetched items stored in one transaction. Batches form from whatever has
/// finished while the last one was written, so an idle crawl still stores at once.
const STORE_BATCH: usize = 512;

/// Stores a batch of fetched items and marks them, in one transaction. If the batch
/// cannot be written as a whole, each item is tried on its own, so one bad item fails
/// alone.
fn store_batch(
    catalog: &SharedCatalog,
    batch: &[(FrontierItem, Result<ServerEntry, String>, Extracted)],
) -> Vec<Result<(), String>> {
    let rows: Vec<(i64, Result<&ServerEntry, &str>)> = batch
        .iter()
        .map(|(item, outcome, _)| (item.id, outcome.as_ref().map_err(String::as_str)))
        .collect();
    let mut guard = lock(catalog);
    if let Ok(stored) = guard.store_crawled(&rows) {
        return batch
            .iter()
            .zip(stored)
            .map(|((_, outcome, _), _)| outcome.as_ref().map(|_| ()).map_err(Clone::clone))
            .collect();
    }
    drop(guard);
    rows.into_iter()
        .map(|(item_id, outcome)| {
            let outcome = outcome
                .map_err(str::to_owned)
                .and_then(|entry| store_merged(catalog, entry).map_err(|error| error.to_string()));
            let marked = match &outcome {
                Ok(()) => lock(catalog).mark_done(item_id),
                Err(error) => lock(catalog).mark_failed(item_id, error),
            };
            outcome.and(marked.map_err(|error| error.to_string()))
        })
        .collect()
}

/// An error and every cause under it, on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// Stores a sighting, merged into the server already known by its repository or a package.
/// Resolving and storing happen under one lock, so two sightings of a new server arriving
/// at once cannot both create it.
fn store_merged(catalog: &SharedCatalog, entry: &ServerEntry) -> Result<(), crate::catalog::Error> {
    let mut record = entry.server.clone();
    let mut catalog = lock(catalog);
    if let Some(existing) =
        catalog.resolve_server_name(record.repository.as_deref(), &record.packages)?
    {
        record.name = existing;
    }
    catalog.store_server(&ServerEntry {
        tools_unread: entry.tools_unread.clone(),
        server: record,
        tools: entry.tools.clone(),
        live: entry.live.clone(),
    })?;
    Ok(())
}

/// What the extraction step did for one item.
#[derive(Debug, Default)]
struct Extracted {
    tools: usize,
    failure: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_a_date_or_an_rfc_3339_time() {
        assert_eq!(
            since_forms("2025-01-31").unwrap(),
            ("2025-01-31T00:00:00Z".to_owned(), "2025-01-31".to_owned())
        );
        assert_eq!(
            since_forms("2025-01-31T10:00:00+02:00").unwrap(),
            (
                "2025-01-31T08:00:00Z".to_owned(),
                "2025-01-31T08:00:00Z".to_owned()
            )
        );
        let error = since_forms("2025-13-01").unwrap_err().to_string();
        assert!(error.contains("`2025-13-01`"), "{error}");
        assert!(since_forms("yesterday").is_err());
    }
}
