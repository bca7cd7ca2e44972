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
use super::packages;
use super::registry;
use super::tools::{Extractor, SourceToRead};
use super::{github, local};
use crate::catalog::{CachedHttp, Catalog, FrontierItem, ServerEntry};
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
    /// Only registry entries updated since this RFC 3339 time.
    pub since: Option<String>,
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
            resume: false,
            concurrency: 16,
            extract_tools: true,
            max_attempts: 3,
            store_batch: STORE_BATCH,
            revisit_unchanged: false,
            http: HttpConfig::default(),
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

/// Lists every enabled source into the frontier. Package names that a listing mentions
/// are queued for the npm and PyPI sources when those are on.
async fn discover(
    catalog: &SharedCatalog,
    clients: &Clients,
    config: &CrawlConfig,
    summary: &mut CrawlSummary,
    progress: &dyn Progress,
) -> Result<(), CrawlError> {
    let enabled = |source| config.sources.contains(&source);
    let mut items: Vec<(String, String, Value, bool)> = Vec::new();
    let mut records: Vec<ServerRecord> = Vec::new();
    if enabled(Source::Registry) {
        progress.message(&format!("listing the registry at {}", config.registry_url));
        let listed = registry::list_servers(
            &clients.general,
            &config.registry_url,
            config.since.as_deref(),
            100,
            config.limit,
        )
        .await;
        let entry = summary.sources.entry("registry".to_owned()).or_default();
        match listed {
            Ok(listing) => {
                entry.discovered = listing.servers.len();
                for record in &listing.servers {
                    items.push((
                        "registry".to_owned(),
                        record.name.clone(),
                        record_payload(record),
                        false,
                    ));
                }
                records.extend(listing.servers);
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
        for record in &seeds {
            items.push((
                "seeds".to_owned(),
                record.name.clone(),
                record_payload(record),
                false,
            ));
        }
        records.extend(seeds);
    }
    if let Some(client) = &clients.github {
        progress.message(&format!("searching GitHub at {}", config.github_url));
        let code_queries: &[&str] = if config.github_token.is_some() {
            github::CODE_QUERIES
        } else {
            &[]
        };
        let searched = github::search(
            client,
            &config.github_url,
            github::REPOSITORY_QUERIES,
            code_queries,
            config
                .github_window
                .unwrap_or_else(github::Window::all_time),
        )
        .await;
        let entry = summary.sources.entry("github".to_owned()).or_default();
        match searched {
            Ok(outcome) => {
                entry.discovered = outcome.servers.len() + outcome.names_only.len();
                for note in &outcome.notes {
                    progress.message(&format!("github: {note}"));
                }
                for (key, record) in &outcome.servers {
                    items.push((
                        "github".to_owned(),
                        key.clone(),
                        record_payload(record),
                        false,
                    ));
                }
                // Found by code search only: the item fetches the repository's metadata.
                for name in &outcome.names_only {
                    items.push((
                        "github".to_owned(),
                        name.clone(),
                        json!({"full_name": name}),
                        true,
                    ));
                }
                records.extend(outcome.servers.into_values());
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
                        items.push((
                            "local".to_owned(),
                            checkout.path.display().to_string(),
                            record_payload(&checkout.record),
                            true,
                        ));
                        records.push(checkout.record);
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
        names.extend(
            records
                .iter()
                .flat_map(|record| &record.packages)
                .filter_map(|purl| package_name(purl, prefix)),
        );
        names.sort();
        names.dedup();
        let entry = summary
            .sources
            .entry(source.as_str().to_owned())
            .or_default();
        entry.discovered = names.len();
        for name in names {
            items.push((
                source.as_str().to_owned(),
                name.clone(),
                json!({"name": name}),
                true,
            ));
        }
    }
    if config.revisit_unchanged {
        for item in &mut items {
            item.3 = true;
        }
    }
    let unchanged = lock(catalog).enqueue(summary.run_id, &items, true)?;
    for (source, count) in unchanged {
        summary.sources.entry(source).or_default().unchanged = count;
    }
    Ok(())
}

/// The package name in a purl of the given type, version and qualifiers removed.
fn package_name(purl: &str, prefix: &str) -> Option<String> {
    let rest = purl.strip_prefix(prefix)?;
    let name = rest.split(['@', '?', '#']).next()?;
    Some(name.replace("%40", "@"))
}

fn record_payload(record: &ServerRecord) -> Value {
    serde_json::to_value(record).unwrap_or(Value::Null)
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
    let npm_registry = Arc::new(tokio::sync::OnceCell::new());
    let pypi_index = Arc::new(tokio::sync::OnceCell::new());
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
    let mut tasks = tokio::task::JoinSet::new();
    for item in pending {
        let (client, permits) = (clients.general.clone(), permits.clone());
        let extractor = extractor.clone();
        let github_client = clients.github.clone();
        let github_url = config.github_url.clone();
        let (npm_registry, pypi_index) = (npm_registry.clone(), pypi_index.clone());
        let (npm_flag, pypi_flag) = (config.npm_registry.clone(), config.pypi_index.clone());
        tasks.spawn(async move {
            let Ok(_permit) = permits.acquire_owned().await else {
                return (
                    item,
                    Err("the crawl is shutting down".to_owned()),
                    Extracted::default(),
                );
            };
            let record = match item.source.as_str() {
                "github" if item.payload.get("name").is_none() => match &github_client {
                    Some(github_client) => {
                        github::repository(github_client, &github_url, &item.key)
                            .await
                            .map(|record| (record, SourceToRead::Github))
                            .map_err(|error| error_chain(&error))
                    }
                    None => Err("the GitHub source is off".to_owned()),
                },
                "registry" | "seeds" | "github" | "local" => {
                    let to_read = match item.source.as_str() {
                        "github" => SourceToRead::Github,
                        "local" => SourceToRead::Dir(PathBuf::from(&item.key)),
                        _ => SourceToRead::Nothing,
                    };
                    serde_json::from_value::<ServerRecord>(item.payload.clone())
                        .map(|record| (record, to_read))
                        .map_err(|error| format!("bad frontier payload: {error}"))
                }
                "npm" => {
                    let registry = npm_registry
                        .get_or_try_init(|| async { packages::npm_registry(npm_flag.as_deref()) })
                        .await;
                    match registry {
                        Ok(registry) => packages::npm_package(&client, registry, &item.key)
                            .await
                            .map(|found| (found.record, SourceToRead::Archive(found.archive_url)))
                            .map_err(|error| error_chain(&error)),
                        Err(error) => Err(error_chain(&error)),
                    }
                }
                "pypi" => {
                    let index = pypi_index
                        .get_or_try_init(|| async { packages::pypi_index(pypi_flag.as_deref()) })
                        .await;
                    match index {
                        Ok(index) => packages::pypi_package(&client, index, &item.key)
                            .await
                            .map(|found| (found.record, SourceToRead::Archive(found.archive_url)))
                            .map_err(|error| error_chain(&error)),
                        Err(error) => Err(error_chain(&error)),
                    }
                }
                other => Err(format!("no source named {other}")),
            };
            let mut extracted = Extracted::default();
            let entry = match record {
                Ok((record, to_read)) => {
                    let (tools, tools_unread) = match &extractor {
                        Some(extractor) => {
                            let github = github_client.as_deref().map(|c| (c, github_url.as_str()));
                            match extractor.read(&client, github, to_read, &record).await {
                                Ok(found) => {
                                    extracted.tools = found.tools.as_ref().map_or(0, Vec::len);
                                    (found.tools, found.unread)
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
                    })
                }
                Err(error) => Err(error),
            };
            (item, entry, extracted)
        });
    }
    let mut stored_total = 0usize;
    tokio::pin!(stop);
    loop {
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
    })?;
    Ok(())
}

/// What the extraction step did for one item.
#[derive(Debug, Default)]
struct Extracted {
    tools: usize,
    failure: Option<String>,
}
