//! GitHub as a crawl source: repository search (by topic and by words), code search for
//! MCP SDK imports when a token is present, repository metadata, and the source tarball
//! of a repository's default branch.
//!
//! Why octocrab is only used for its models: every request goes through our own
//! [`HttpClient`], because the crawl needs what octocrab's client does not give for search:
//! ETag validators kept in the catalogue between runs (a 304 answer costs no rate limit),
//! waiting out `X-RateLimit-Remaining: 0` until `X-RateLimit-Reset`, and honouring
//! `Retry-After` on the 403 of a secondary limit, all with one set of retry and concurrency
//! rules shared by every source. The answers are read into octocrab's typed
//! [`octocrab::models::Repository`], item by item, so one odd repository is reported and
//! skipped instead of failing its whole page.
//!
//! The search API returns at most 1,000 results per query. A query is therefore run over
//! a creation-date window, and a window whose `total_count` is over 1,000 is split in
//! halves until each half fits (down to one second; a second holding more than 1,000
//! repositories keeps its first 1,000 and says so).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use octocrab::models::Repository;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::http::{HttpClient, HttpError};
use super::packages::{PackageError, download_and_unpack};
use super::registry::normalize_repository_url;
use super::unpack::UnpackLimits;
use crate::model::{ServerRecord, SourceRef};

/// GitHub's public API, unless `--github-url` or `MCPWARDEN_GITHUB_URL` says otherwise
/// (GitHub Enterprise serves it at `https://HOST/api/v3`).
pub const DEFAULT_GITHUB_API: &str = "https://api.github.com";

/// The environment variable that overrides the API's base URL.
pub const GITHUB_URL_ENV: &str = "MCPWARDEN_GITHUB_URL";

/// Repository searches that find MCP servers.
pub const REPOSITORY_QUERIES: &[&str] = &[
    "topic:mcp-server",
    "topic:mcp",
    "\"mcp server\" in:name,description",
];

/// Code searches for imports of the MCP SDKs. GitHub only allows code search with a token.
pub const CODE_QUERIES: &[&str] = &[
    "\"@modelcontextprotocol/sdk\" filename:package.json",
    "\"from mcp.server\" language:python",
    "\"modelcontextprotocol/go-sdk\" filename:go.mod",
    "\"mark3labs/mcp-go\" filename:go.mod",
    "rmcp filename:Cargo.toml",
];

/// The search API's cap on results per query, and its largest page.
const SEARCH_CAP: u64 = 1000;
const PER_PAGE: u64 = 100;

/// The first moment a repository can have been created (GitHub opened in 2008).
const GITHUB_EPOCH: i64 = 1_199_145_600; // 2008-01-01T00:00:00Z

#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("{url}: GitHub answered with something that is not a search result")]
    BadPage {
        url: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{url}: GitHub answered with something that is not a repository")]
    BadRepository {
        url: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("`{repository}` is not a GitHub repository URL")]
    NotGithub { repository: String },
    #[error("the tarball of {repository} has no folder `{folder}`")]
    MissingFolder { repository: String, folder: String },
    #[error("the tarball of {repository} is not one top-level folder")]
    BadTarball { repository: String },
    #[error(transparent)]
    Package(#[from] PackageError),
}

/// The API base URL: the flag, else `MCPWARDEN_GITHUB_URL`, else GitHub's public API.
pub fn github_api_url(flag: Option<&str>) -> String {
    let chosen = flag
        .map(str::to_owned)
        .or_else(|| std::env::var(GITHUB_URL_ENV).ok())
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_GITHUB_API.to_owned());
    chosen.trim().trim_end_matches('/').to_owned()
}

/// Headers for every GitHub request: the API's media type and version, and the token when
/// there is one. These go on a client used for GitHub only, so a token never reaches
/// another host.
pub fn github_headers(token: Option<&str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        ACCEPT,
        HeaderValue::from_static("application/vnd.github+json"),
    );
    headers.insert(
        "x-github-api-version",
        HeaderValue::from_static("2022-11-28"),
    );
    if let Some(token) = token.map(str::trim).filter(|token| !token.is_empty())
        && let Ok(mut value) = HeaderValue::from_str(&format!("Bearer {token}"))
    {
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
    }
    headers
}

/// One page of `/search/repositories` or `/search/code`, items left untyped so each can
/// be read (or skipped) on its own.
#[derive(Debug, Deserialize)]
struct SearchPage {
    total_count: u64,
    #[serde(default)]
    incomplete_results: bool,
    #[serde(default)]
    items: Vec<Value>,
}

/// What a search run found, and what it could not say for sure.
#[derive(Debug, Default)]
pub struct SearchOutcome {
    /// Every repository found, by lower-case full name, metadata mapped.
    pub servers: BTreeMap<String, ServerRecord>,
    /// The listing (query and window, see [`SearchPlan`]) each found repository was read
    /// from, by lower-case full name.
    pub listing_of: HashMap<String, Arc<str>>,
    /// Per repository query (with its `pushed:` qualifier), the windows this search ended
    /// with: remembered for the next search, so it asks for these directly.
    pub leaves: BTreeMap<String, Vec<Window>>,
    /// Remembered windows whose first page was answered "not modified" and so were not
    /// read again (their listings, `query window`).
    pub unchanged_listings: Vec<String>,
    /// Repositories only code search found: their metadata still has to be fetched.
    pub names_only: Vec<String>,
    /// Search requests made (probes and pages).
    pub requests: usize,
    /// How many creation-date windows were split because they held over 1,000 results.
    pub splits: usize,
    /// Things to tell the person: capped windows, incomplete results, unreadable items.
    pub notes: Vec<String>,
}

/// A creation-date window, inclusive at both ends, in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct Window {
    pub from: i64,
    pub to: i64,
}

impl Window {
    /// From GitHub's opening to the end of today (UTC). The end is the day's, not the
    /// moment's, so a repeated crawl asks the same URLs and its ETags answer with 304.
    pub fn all_time() -> Window {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        Window {
            from: GITHUB_EPOCH,
            to: (now / 86_400 + 1) * 86_400 - 1,
        }
    }

    /// The halves of the window, or `None` when it is one second long.
    pub fn halves(self) -> Option<(Window, Window)> {
        if self.to <= self.from {
            return None;
        }
        let middle = self.from + (self.to - self.from) / 2;
        Some((
            Window {
                from: self.from,
                to: middle,
            },
            Window {
                from: middle + 1,
                to: self.to,
            },
        ))
    }

    /// The search qualifier, e.g. `created:2024-01-01T00:00:00Z..2024-06-30T23:59:59Z`.
    pub fn qualifier(self) -> String {
        format!("created:{}..{}", iso(self.from), iso(self.to))
    }
}

fn iso(seconds: i64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|moment| moment.format(&format).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

fn search_url(api: &str, kind: &str, query: &str, page: u64) -> Result<String, GithubError> {
    let mut url =
        reqwest::Url::parse(&format!("{api}/search/{kind}")).map_err(|_| HttpError::BadUrl {
            url: api.to_owned(),
        })?;
    {
        let mut pairs = url.query_pairs_mut();
        pairs.append_pair("q", query);
        if kind == "repositories" {
            // Most recently updated first: whatever changes a repository's metadata (a push,
            // a star, archiving, a new topic) moves it to the first page, so a window whose
            // first page is unchanged (a 304) is taken as unchanged as a whole.
            pairs
                .append_pair("sort", "updated")
                .append_pair("order", "desc");
        }
        pairs
            .append_pair("per_page", &PER_PAGE.to_string())
            .append_pair("page", &page.to_string());
    }
    Ok(url.to_string())
}

async fn fetch_page(client: &HttpClient, url: String) -> Result<SearchPage, GithubError> {
    let fetched = client.get(&url).await?;
    serde_json::from_slice(&fetched.body).map_err(|source| GithubError::BadPage { url, source })
}

/// Fetches a page; `None` when `skip_unchanged` and the answer was a 304 (not parsed).
async fn fetch_page_unless_unchanged(
    client: &HttpClient,
    url: String,
    skip_unchanged: bool,
) -> Result<Option<SearchPage>, GithubError> {
    let fetched = client.get(&url).await?;
    if skip_unchanged && fetched.not_modified {
        return Ok(None);
    }
    serde_json::from_slice(&fetched.body)
        .map(Some)
        .map_err(|source| GithubError::BadPage { url, source })
}

/// Maps a repository's metadata into a catalogue record named `owner/repo`.
pub fn repository_record(repository: &Repository) -> Option<ServerRecord> {
    let full_name = repository
        .full_name
        .clone()
        .or_else(|| {
            let owner = repository.owner.as_ref()?;
            Some(format!("{}/{}", owner.login, repository.name))
        })?
        .to_ascii_lowercase();
    let url = repository
        .html_url
        .as_ref()
        .map(|url| url.to_string())
        .unwrap_or_else(|| format!("https://github.com/{full_name}"));
    let license = repository.license.as_ref().map(|license| {
        // GitHub says NOASSERTION when it cannot tell; the key is then more useful.
        if license.spdx_id.is_empty() || license.spdx_id == "NOASSERTION" {
            license.key.clone()
        } else {
            license.spdx_id.clone()
        }
    });
    let pushed_at = repository
        .pushed_at
        .map(|moment| moment.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    Some(ServerRecord {
        repository: normalize_repository_url(&url),
        name: full_name.clone(),
        description: repository
            .description
            .clone()
            .filter(|text| !text.is_empty()),
        language: repository
            .language
            .as_ref()
            .and_then(Value::as_str)
            .map(str::to_owned),
        license,
        stars: repository.stargazers_count.map(u64::from),
        last_commit: pushed_at.clone(),
        archived: repository.archived,
        sources: vec![SourceRef {
            source: "github".to_owned(),
            id: full_name,
            seen_at: pushed_at,
        }],
        ..ServerRecord::default()
    })
}

/// Reads one search item (a repository) into a record; `None` with a note when it is not
/// one.
fn item_record(item: Value, url: &str, notes: &mut Vec<String>) -> Option<(ServerRecord, bool)> {
    let archived = item
        .get("archived")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    match serde_json::from_value::<Repository>(item) {
        Ok(repository) => repository_record(&repository).map(|record| (record, archived)),
        Err(error) => {
            notes.push(format!(
                "{url}: skipped an item that is not a repository: {error}"
            ));
            None
        }
    }
}

/// What one spawned search request came back with.
enum Answer {
    /// The first page of a window: split it, or read it and ask for its other pages.
    /// `page` is `None` for a remembered window answered "not modified".
    Probe {
        query_index: usize,
        window: Window,
        page: Result<Option<SearchPage>, GithubError>,
        url: String,
    },
    /// A later page of a window.
    Page {
        listing: Arc<str>,
        page: Result<SearchPage, GithubError>,
        url: String,
    },
}

/// Everything one search run is asked to do.
#[derive(Debug, Clone)]
pub struct SearchPlan<'a> {
    pub repository_queries: &'a [&'a str],
    pub code_queries: &'a [&'a str],
    /// The creation-date window the repository queries cover.
    pub window: Window,
    /// `--since`: only repositories pushed at or after this date (`YYYY-MM-DD` or an RFC
    /// 3339 time), as GitHub's `pushed:>=` qualifier. Code search has no such qualifier.
    pub pushed_since: Option<&'a str>,
    /// The windows the last complete search ended with, per full query (see
    /// [`SearchOutcome::leaves`]). A remembered window is asked for directly instead of
    /// being found again by halving, and when its first page answers "not modified" its
    /// other pages are not asked for at all.
    pub remembered: Option<&'a BTreeMap<String, Vec<Window>>>,
}

impl SearchPlan<'_> {
    /// A repository query with its `pushed:` qualifier, without the window.
    pub fn full_query(&self, query: &str) -> String {
        match self.pushed_since {
            Some(since) => format!("{query} pushed:>={since}"),
            None => query.to_owned(),
        }
    }
}

/// The windows to start a query with: the remembered ones (marked `true`) when they cover
/// `window` from its start without gaps, the last one stretched to `window`'s end (asked
/// again, unmarked, as it is a new URL); else `window` itself.
fn starting_windows(remembered: Option<&Vec<Window>>, window: Window) -> Vec<(Window, bool)> {
    let Some(leaves) = remembered.filter(|leaves| !leaves.is_empty()) else {
        return vec![(window, false)];
    };
    let contiguous = leaves
        .windows(2)
        .all(|pair| pair[0].to + 1 == pair[1].from && pair[0].from <= pair[0].to);
    let (Some(first), Some(last)) = (leaves.first(), leaves.last()) else {
        return vec![(window, false)];
    };
    if !contiguous || first.from != window.from || last.to > window.to || last.from > last.to {
        return vec![(window, false)];
    }
    let mut windows: Vec<(Window, bool)> = leaves.iter().map(|leaf| (*leaf, true)).collect();
    if last.to < window.to
        && let Some(tail) = windows.last_mut()
    {
        *tail = (
            Window {
                from: last.from,
                to: window.to,
            },
            false,
        );
    }
    windows
}

/// Runs each repository query over all of GitHub's history, splitting creation-date
/// windows until each holds at most 1,000 results, and each code query (with a token)
/// over its 1,000 results. Requests run concurrently within the client's limits.
///
/// A failing request fails the search: a partial listing would look complete.
pub async fn search(
    client: &Arc<HttpClient>,
    api: &str,
    repository_queries: &[&str],
    code_queries: &[&str],
    window: Window,
) -> Result<SearchOutcome, GithubError> {
    search_with(
        client,
        api,
        &SearchPlan {
            repository_queries,
            code_queries,
            window,
            pushed_since: None,
            remembered: None,
        },
    )
    .await
}

/// [`search`] with a `pushed:` qualifier and the windows of the last search remembered.
pub async fn search_with(
    client: &Arc<HttpClient>,
    api: &str,
    plan: &SearchPlan<'_>,
) -> Result<SearchOutcome, GithubError> {
    let mut outcome = SearchOutcome::default();
    let mut archived = 0usize;
    let mut tasks = tokio::task::JoinSet::new();
    let full_queries: Vec<String> = plan
        .repository_queries
        .iter()
        .map(|query| plan.full_query(query))
        .collect();
    let spawn_probe = |tasks: &mut tokio::task::JoinSet<Answer>,
                       query_index: usize,
                       window: Window,
                       remembered: bool| {
        let client = client.clone();
        let full = format!("{} {}", full_queries[query_index], window.qualifier());
        let url = search_url(api, "repositories", &full, 1);
        tasks.spawn(async move {
            let page = match &url {
                Ok(url) => fetch_page_unless_unchanged(&client, url.clone(), remembered).await,
                Err(_) => Err(GithubError::Http(HttpError::BadUrl { url: full })),
            };
            Answer::Probe {
                query_index,
                window,
                page,
                url: url.unwrap_or_default(),
            }
        });
    };
    for (query_index, full) in full_queries.iter().enumerate() {
        let remembered = plan.remembered.and_then(|leaves| leaves.get(full));
        for (window, known) in starting_windows(remembered, plan.window) {
            spawn_probe(&mut tasks, query_index, window, known);
        }
    }
    while let Some(joined) = tasks.join_next().await {
        let Ok(answer) = joined else { continue };
        outcome.requests += 1;
        match answer {
            Answer::Probe {
                query_index,
                window,
                page,
                url,
            } => {
                let full = &full_queries[query_index];
                let listing: Arc<str> = Arc::from(format!("{full} {}", window.qualifier()));
                let Some(page) = page? else {
                    outcome.leaves.entry(full.clone()).or_default().push(window);
                    outcome.unchanged_listings.push(listing.to_string());
                    continue;
                };
                if page.total_count > SEARCH_CAP
                    && let Some((early, late)) = window.halves()
                {
                    outcome.splits += 1;
                    spawn_probe(&mut tasks, query_index, early, false);
                    spawn_probe(&mut tasks, query_index, late, false);
                    continue;
                }
                outcome.leaves.entry(full.clone()).or_default().push(window);
                if page.total_count > SEARCH_CAP {
                    outcome.notes.push(format!(
                        "{url}: {} repositories created in one second; only the first 1,000 are listed",
                        page.total_count
                    ));
                }
                if page.incomplete_results {
                    outcome
                        .notes
                        .push(format!("{url}: GitHub says these results are incomplete"));
                }
                let pages = page.total_count.min(SEARCH_CAP).div_ceil(PER_PAGE);
                let query = format!("{full} {}", window.qualifier());
                for number in 2..=pages {
                    let client = client.clone();
                    let url = search_url(api, "repositories", &query, number)?;
                    let listing = listing.clone();
                    tasks.spawn(async move {
                        let page = fetch_page(&client, url.clone()).await;
                        Answer::Page { listing, page, url }
                    });
                }
                archived += collect(&mut outcome, page.items, &url, &listing);
            }
            Answer::Page { listing, page, url } => {
                let page = page?;
                archived += collect(&mut outcome, page.items, &url, &listing);
            }
        }
    }
    for leaves in outcome.leaves.values_mut() {
        leaves.sort_by_key(|window| window.from);
    }
    let mut code_names: HashSet<String> = HashSet::new();
    for query in plan.code_queries {
        let mut number = 1;
        loop {
            let url = search_url(api, "code", query, number)?;
            let page = fetch_page(client, url.clone()).await?;
            outcome.requests += 1;
            let count = page.items.len() as u64;
            for item in page.items {
                let Some(full_name) = item
                    .get("repository")
                    .and_then(|repository| repository.get("full_name"))
                    .and_then(Value::as_str)
                else {
                    continue;
                };
                code_names.insert(full_name.to_ascii_lowercase());
            }
            if count < PER_PAGE || number * PER_PAGE >= page.total_count.min(SEARCH_CAP) {
                break;
            }
            number += 1;
        }
    }
    let mut names_only: Vec<String> = code_names
        .into_iter()
        .filter(|name| !outcome.servers.contains_key(name))
        .collect();
    names_only.sort();
    outcome.names_only = names_only;
    if archived > 0 {
        outcome
            .notes
            .push(format!("{archived} of the repositories found are archived"));
    }
    Ok(outcome)
}

/// Adds a page's repositories to the outcome; returns how many were archived.
fn collect(outcome: &mut SearchOutcome, items: Vec<Value>, url: &str, listing: &Arc<str>) -> usize {
    let mut archived = 0;
    for item in items {
        if let Some((record, is_archived)) = item_record(item, url, &mut outcome.notes)
            && !outcome.servers.contains_key(&record.name)
        {
            archived += usize::from(is_archived);
            outcome
                .listing_of
                .insert(record.name.clone(), listing.clone());
            outcome.servers.insert(record.name.clone(), record);
        }
    }
    archived
}

/// Fetches one repository's metadata (`GET /repos/{owner}/{repo}`).
pub async fn repository(
    client: &HttpClient,
    api: &str,
    full_name: &str,
) -> Result<ServerRecord, GithubError> {
    let url = format!("{api}/repos/{full_name}");
    let fetched = client.get(&url).await?;
    let repository: Repository =
        serde_json::from_slice(&fetched.body).map_err(|source| GithubError::BadRepository {
            url: url.clone(),
            source,
        })?;
    repository_record(&repository).ok_or_else(|| GithubError::BadRepository {
        url,
        source: <serde_json::Error as serde::de::Error>::custom("it has no full name and no owner"),
    })
}

/// A GitHub repository URL in the catalogue's normal form, taken apart:
/// `(owner/repo, folder inside it)`.
pub fn split_repository(repository: &str) -> Option<(String, Option<String>)> {
    let normal = normalize_repository_url(repository)?;
    let path = normal.strip_prefix("https://github.com/")?;
    let mut segments = path.splitn(5, '/');
    let owner = segments.next()?;
    let repo = segments.next()?;
    let folder = match (segments.next(), segments.next(), segments.next()) {
        (Some("tree"), Some(_), Some(folder)) => Some(folder.to_owned()),
        _ => None,
    };
    Some((format!("{owner}/{repo}"), folder))
}

/// Where the tarball of a repository's default branch is served (GitHub redirects it to
/// its download host; the client follows).
pub fn tarball_url(api: &str, full_name: &str) -> String {
    format!("{}/repos/{full_name}/tarball", api.trim_end_matches('/'))
}

/// Downloads and safely unpacks the default branch of `repository` (a GitHub URL, maybe
/// with a `/tree/<ref>/<folder>`) into `scratch`, and returns the folder holding the
/// server's source: the repository's top folder, or the subfolder inside it.
pub async fn fetch_source(
    client: &HttpClient,
    api: &str,
    repository: &str,
    scratch: &Path,
    limits: UnpackLimits,
) -> Result<PathBuf, GithubError> {
    let (full_name, folder) =
        split_repository(repository).ok_or_else(|| GithubError::NotGithub {
            repository: repository.to_owned(),
        })?;
    download_and_unpack(client, &tarball_url(api, &full_name), scratch, limits).await?;
    let tree = scratch.join("tree");
    // GitHub's tarballs hold one folder, `owner-repo-<commit>/`.
    let mut tops = fs_err::read_dir(&tree)
        .map_err(|source| PackageError::Write {
            path: tree.display().to_string(),
            source,
        })?
        .filter_map(Result::ok)
        .filter(|entry| entry.path().is_dir());
    let (Some(top), None) = (tops.next(), tops.next()) else {
        return Err(GithubError::BadTarball {
            repository: repository.to_owned(),
        });
    };
    let root = top.path();
    let Some(folder) = folder else {
        return Ok(root);
    };
    let safe = Path::new(&folder)
        .components()
        .all(|part| matches!(part, std::path::Component::Normal(_)));
    let inside = root.join(&folder);
    if !safe || !inside.is_dir() {
        return Err(GithubError::MissingFolder {
            repository: repository.to_owned(),
            folder,
        });
    }
    Ok(inside)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_split_into_halves_that_cover_the_whole() {
        let window = Window { from: 0, to: 9 };
        let (early, late) = window.halves().unwrap();
        assert_eq!(early, Window { from: 0, to: 4 });
        assert_eq!(late, Window { from: 5, to: 9 });
        assert_eq!(Window { from: 3, to: 3 }.halves(), None);
        // The whole history ends with today, so repeated crawls ask the same URLs.
        assert_eq!(Window::all_time().to % 86_400, 86_399);
        assert_eq!(Window::all_time(), Window::all_time());
        assert_eq!(
            Window {
                from: GITHUB_EPOCH,
                to: GITHUB_EPOCH + 86_399
            }
            .qualifier(),
            "created:2008-01-01T00:00:00Z..2008-01-01T23:59:59Z"
        );
    }

    #[test]
    fn remembered_windows_are_reused_only_when_they_cover_the_window() {
        let whole = Window { from: 0, to: 99 };
        let leaves = vec![Window { from: 0, to: 49 }, Window { from: 50, to: 89 }];
        // Up to 89 remembered; the last one stretched to today's end is a new URL.
        assert_eq!(
            starting_windows(Some(&leaves), whole),
            vec![
                (Window { from: 0, to: 49 }, true),
                (Window { from: 50, to: 99 }, false)
            ]
        );
        let exact = Window { from: 0, to: 89 };
        assert_eq!(
            starting_windows(Some(&leaves), exact),
            vec![
                (Window { from: 0, to: 49 }, true),
                (Window { from: 50, to: 89 }, true)
            ]
        );
        // A gap, another start, or nothing remembered: the whole window, halved again.
        let gap = vec![Window { from: 0, to: 40 }, Window { from: 50, to: 99 }];
        assert_eq!(starting_windows(Some(&gap), whole), vec![(whole, false)]);
        let late = Window { from: 10, to: 99 };
        assert_eq!(starting_windows(Some(&leaves), late), vec![(late, false)]);
        assert_eq!(starting_windows(None, whole), vec![(whole, false)]);
        assert_eq!(starting_windows(Some(&vec![]), whole), vec![(whole, false)]);
    }

    #[test]
    fn repository_urls_come_apart_into_name_and_folder() {
        assert_eq!(
            split_repository("https://github.com/Acme/Weather.git"),
            Some(("acme/weather".to_owned(), None))
        );
        assert_eq!(
            split_repository("https://github.com/acme/servers/tree/main/src/fetch"),
            Some(("acme/servers".to_owned(), Some("src/fetch".to_owned())))
        );
        assert_eq!(split_repository("https://gitlab.com/acme/weather"), None);
    }

    #[test]
    fn the_api_url_comes_from_the_flag_first() {
        assert_eq!(
            github_api_url(Some("http://127.0.0.1:9/api/v3/")),
            "http://127.0.0.1:9/api/v3"
        );
    }

    #[test]
    fn a_token_is_sent_as_a_bearer_and_marked_sensitive() {
        let headers = github_headers(Some("t0ken"));
        let value = headers.get(AUTHORIZATION).unwrap();
        assert_eq!(value.to_str().unwrap(), "Bearer t0ken");
        assert!(value.is_sensitive());
        assert!(github_headers(None).get(AUTHORIZATION).is_none());
        assert!(github_headers(Some(" ")).get(AUTHORIZATION).is_none());
    }
}
