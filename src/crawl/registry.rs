//! The official MCP registry as a crawl source: its list API (`GET /v0.1/servers`, cursor
//! pagination, `updated_since`), its `server.json` shape, and the registry's early seed
//! file format, all turned into [`ServerRecord`]s.
//!
//! The registry's shapes change between API versions, so these types are lenient: unknown
//! fields are ignored and everything but a name is optional. A page that is not JSON at
//! all is an error naming the URL.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::http::{HttpClient, HttpError};
use crate::model::{Remote, ServerRecord, SourceRef};

/// Where the official registry lives unless `--registry-url` says otherwise.
pub const DEFAULT_REGISTRY_URL: &str = "https://registry.modelcontextprotocol.io";

/// The key of the registry's own block in an entry's `_meta`.
const OFFICIAL_META: &str = "io.modelcontextprotocol.registry/official";

/// One page of `GET /v0.1/servers`.
#[derive(Debug, Deserialize)]
pub struct ListPage {
    #[serde(default)]
    pub servers: Vec<ListEntry>,
    #[serde(default)]
    pub metadata: PageMetadata,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageMetadata {
    pub next_cursor: Option<String>,
    pub count: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub struct ListEntry {
    pub server: ServerJson,
    #[serde(rename = "_meta", default)]
    pub meta: Option<Value>,
}

/// The parts of `server.json` a catalogue keeps.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerJson {
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub version: Option<String>,
    pub repository: Option<Repository>,
    #[serde(default)]
    pub packages: Vec<Package>,
    #[serde(default)]
    pub remotes: Vec<Remote>,
    /// Older registry versions put the status here rather than in `_meta`.
    pub status: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Repository {
    pub url: Option<String>,
    pub source: Option<String>,
    pub subfolder: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Package {
    pub registry_type: Option<String>,
    pub identifier: Option<String>,
    pub version: Option<String>,
}

/// One server in the registry's early seed file (`registry-seed-2025-05-16.json`).
#[derive(Debug, Deserialize)]
pub struct EarlySeedServer {
    pub id: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub repository: Option<Repository>,
    #[serde(default)]
    pub packages: Vec<EarlySeedPackage>,
}

#[derive(Debug, Deserialize)]
pub struct EarlySeedPackage {
    pub registry_name: Option<String>,
    pub name: Option<String>,
    pub version: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("{url}: the registry answered with something that is not a server list")]
    BadPage {
        url: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "{url}: the registry returned the cursor `{cursor}` twice; stopping instead of looping"
    )]
    CursorLoop { url: String, cursor: String },
    #[error("cannot read the seed file {path}")]
    ReadSeed {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a registry seed file")]
    BadSeed {
        path: String,
        #[source]
        source: serde_json::Error,
    },
}

/// Normalises a repository URL so one repository has one spelling: https, lower-case host,
/// no `.git`, no trailing slash, no `git+` prefix, no `www.`; GitHub paths cut to
/// `owner/repo` (a subfolder is recorded separately). `None` for what is not a URL.
pub fn normalize_repository_url(url: &str) -> Option<String> {
    let trimmed = url.trim().trim_start_matches("git+");
    let trimmed = trimmed
        .strip_prefix("git@github.com:")
        .map(|rest| format!("https://github.com/{rest}"))
        .unwrap_or_else(|| trimmed.to_owned());
    let parsed = reqwest::Url::parse(&trimmed).ok()?;
    let host = parsed.host_str()?.to_ascii_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host).to_owned();
    let mut segments: Vec<&str> = parsed
        .path_segments()?
        .filter(|segment| !segment.is_empty())
        .collect();
    let mut folder = None;
    if host == "github.com" {
        if segments.len() < 2 {
            return None;
        }
        // `tree/<ref>/<path>` names a folder of a monorepo: keep the folder (any ref), as
        // it tells the servers of one repository apart. Other GitHub pages are the repo.
        if segments.len() > 4 && segments[2] == "tree" {
            folder = Some(segments[4..].join("/"));
        }
        segments.truncate(2);
    }
    let mut path = segments.join("/");
    if let Some(stripped) = path.strip_suffix(".git") {
        path = stripped.to_owned();
    }
    if host == "github.com" {
        // GitHub owner and repository names are case-insensitive; one spelling each.
        path = path.to_ascii_lowercase();
    }
    Some(with_folder(
        format!("https://{host}/{path}"),
        folder.as_deref(),
    ))
}

/// A repository URL with a folder inside it, in the one form every source is turned into.
pub fn with_folder(repository: String, folder: Option<&str>) -> String {
    match folder.map(|folder| folder.trim_matches('/')) {
        Some(folder) if !folder.is_empty() => format!("{repository}/tree/HEAD/{folder}"),
        _ => repository,
    }
}

/// A purl for a package reference, per the purl spec's rules for each type: npm scopes
/// become a `%40`-encoded namespace, PyPI names are lower-cased with `_` as `-`.
pub fn purl(registry_type: &str, identifier: &str, version: Option<&str>) -> Option<String> {
    let identifier = identifier.trim();
    if identifier.is_empty() {
        return None;
    }
    // The purl spec percent-encodes `@` in names (an npm scope, and the npm-style names
    // some OCI entries carry), so the only literal `@` starts the version.
    let name = identifier.replace('@', "%40");
    let base = match registry_type.to_ascii_lowercase().as_str() {
        "npm" => format!("pkg:npm/{name}"),
        "pypi" => format!("pkg:pypi/{}", name.to_ascii_lowercase().replace('_', "-")),
        "nuget" => format!("pkg:nuget/{name}"),
        "oci" | "docker" => format!("pkg:oci/{name}"),
        "cargo" => format!("pkg:cargo/{name}"),
        _ => return None,
    };
    Some(
        match version.map(str::trim).filter(|version| !version.is_empty()) {
            Some(version) => format!("{base}@{version}"),
            None => base,
        },
    )
}

/// Purls for `(registry type, identifier, version)` triples, skipping incomplete ones and
/// registries purls have no type for.
fn purls<'a>(
    packages: impl Iterator<Item = (Option<&'a str>, Option<&'a str>, Option<&'a str>)>,
) -> Vec<String> {
    packages
        .filter_map(|(kind, identifier, version)| purl(kind?, identifier?, version))
        .collect()
}

/// The repository a registry entry names, normalised; a `subfolder` stays part of it, so
/// the servers of one monorepo remain distinct servers.
fn repository_identity(repository: Option<&Repository>) -> Option<String> {
    let repository = repository?;
    let url = normalize_repository_url(repository.url.as_deref()?)?;
    match repository
        .subfolder
        .as_deref()
        .map(|folder| folder.trim_matches('/'))
    {
        Some(folder) if !folder.is_empty() => Some(format!("{url}/tree/HEAD/{folder}")),
        _ => Some(url),
    }
}

impl ListEntry {
    /// The entry's status from `_meta` (or the server itself), lower-cased.
    pub fn status(&self) -> Option<String> {
        self.meta
            .as_ref()
            .and_then(|meta| meta.get(OFFICIAL_META))
            .and_then(|official| official.get("status"))
            .and_then(Value::as_str)
            .or(self.server.status.as_deref())
            .map(str::to_ascii_lowercase)
    }

    fn updated_at(&self) -> Option<String> {
        self.meta
            .as_ref()
            .and_then(|meta| meta.get(OFFICIAL_META))
            .and_then(|official| {
                official
                    .get("updatedAt")
                    .or_else(|| official.get("publishedAt"))
            })
            .and_then(Value::as_str)
            .map(str::to_owned)
    }

    pub fn into_record(self) -> ServerRecord {
        let updated_at = self.updated_at();
        let server = self.server;
        let packages = purls(server.packages.iter().map(|package| {
            (
                package.registry_type.as_deref(),
                package.identifier.as_deref(),
                package.version.as_deref(),
            )
        }));
        ServerRecord {
            repository: repository_identity(server.repository.as_ref()),
            sources: vec![SourceRef {
                source: "registry".to_owned(),
                id: server.name.clone(),
                seen_at: updated_at,
            }],
            name: server.name,
            title: server.title,
            description: server.description,
            packages,
            remotes: server.remotes,
            ..ServerRecord::default()
        }
    }
}

impl EarlySeedServer {
    pub fn into_record(self) -> ServerRecord {
        let packages = purls(self.packages.iter().map(|package| {
            (
                package.registry_name.as_deref(),
                package.name.as_deref(),
                package.version.as_deref(),
            )
        }));
        ServerRecord {
            repository: repository_identity(self.repository.as_ref()),
            sources: vec![SourceRef {
                source: "registry-seed".to_owned(),
                id: self.id.unwrap_or_else(|| self.name.clone()),
                seen_at: None,
            }],
            name: self.name,
            description: self.description,
            packages,
            ..ServerRecord::default()
        }
    }
}

/// The servers of the registry's early seed file, and how many of its entries were
/// nameless placeholders (the real file has seven) and so skipped.
#[derive(Debug, Default)]
pub struct EarlySeed {
    pub servers: Vec<ServerRecord>,
    pub nameless: usize,
}

/// Reads the registry's early seed file.
pub fn read_early_seed(path: &Path) -> Result<EarlySeed, RegistryError> {
    let text = fs_err::read_to_string(path).map_err(|source| RegistryError::ReadSeed {
        path: path.display().to_string(),
        source,
    })?;
    let servers: Vec<EarlySeedServer> =
        serde_json::from_str(&text).map_err(|source| RegistryError::BadSeed {
            path: path.display().to_string(),
            source,
        })?;
    let total = servers.len();
    let servers: Vec<ServerRecord> = servers
        .into_iter()
        .filter(|server| !server.name.trim().is_empty())
        .map(EarlySeedServer::into_record)
        .collect();
    Ok(EarlySeed {
        nameless: total - servers.len(),
        servers,
    })
}

/// What one listing of the registry found.
#[derive(Debug, Default)]
pub struct Listing {
    pub servers: Vec<ServerRecord>,
    pub skipped_deleted: usize,
    pub pages: usize,
}

/// Lists the registry at `base_url`, page by page, keeping the latest version of each
/// server and skipping deleted ones. `updated_since` (RFC 3339) makes the run incremental;
/// `limit` stops after that many servers.
pub async fn list_servers(
    client: &HttpClient,
    base_url: &str,
    updated_since: Option<&str>,
    page_size: usize,
    limit: Option<usize>,
) -> Result<Listing, RegistryError> {
    let mut listing = Listing::default();
    let mut seen_cursors = std::collections::HashSet::new();
    let mut cursor: Option<String> = None;
    let mut by_name: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    loop {
        let mut url =
            reqwest::Url::parse(&format!("{}/v0.1/servers", base_url.trim_end_matches('/')))
                .map_err(|_| HttpError::BadUrl {
                    url: base_url.to_owned(),
                })?;
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("limit", &page_size.to_string());
            if let Some(cursor) = &cursor {
                query.append_pair("cursor", cursor);
            }
            if let Some(since) = updated_since {
                query.append_pair("updated_since", since);
            }
        }
        let url = url.to_string();
        let fetched = client.get(&url).await?;
        let page: ListPage =
            serde_json::from_slice(&fetched.body).map_err(|source| RegistryError::BadPage {
                url: url.clone(),
                source,
            })?;
        listing.pages += 1;
        for entry in page.servers {
            if entry.status().as_deref() == Some("deleted") {
                listing.skipped_deleted += 1;
                continue;
            }
            let record = entry.into_record();
            // Several versions of one server may be listed: the later one wins.
            match by_name.get(&record.name) {
                Some(&index) => listing.servers[index] = record,
                None => {
                    by_name.insert(record.name.clone(), listing.servers.len());
                    listing.servers.push(record);
                }
            }
            if limit.is_some_and(|limit| listing.servers.len() >= limit) {
                return Ok(listing);
            }
        }
        match page.metadata.next_cursor.filter(|next| !next.is_empty()) {
            None => return Ok(listing),
            Some(next) => {
                if !seen_cursors.insert(next.clone()) {
                    return Err(RegistryError::CursorLoop { url, cursor: next });
                }
                cursor = Some(next);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_urls_have_one_spelling() {
        let check = |input: &str, expected: Option<&str>| {
            assert_eq!(
                normalize_repository_url(input).as_deref(),
                expected,
                "{input}"
            )
        };
        let canonical = Some("https://github.com/owner/repo");
        check("https://github.com/owner/repo", canonical);
        check("https://github.com/Owner/Repo.git", canonical);
        check("git+https://github.com/owner/repo.git", canonical);
        check("http://www.github.com/owner/repo/", canonical);
        check("git@github.com:owner/repo.git", canonical);
        check("https://github.com/owner/repo/issues", canonical);
        check(
            "https://github.com/Owner/Repo/tree/main/src/server/",
            Some("https://github.com/owner/repo/tree/HEAD/src/server"),
        );
        check(
            "https://gitlab.com/Group/Sub/Repo.git",
            Some("https://gitlab.com/Group/Sub/Repo"),
        );
        check("https://github.com/owner", None);
        check("not a url", None);
    }

    #[test]
    fn purls_follow_each_type_s_rules() {
        assert_eq!(
            purl("npm", "@scope/name", Some("1.2.3")).as_deref(),
            Some("pkg:npm/%40scope/name@1.2.3")
        );
        assert_eq!(purl("npm", "plain", None).as_deref(), Some("pkg:npm/plain"));
        assert_eq!(
            purl("pypi", "Mcp_Server_Fetch", Some("0.6")).as_deref(),
            Some("pkg:pypi/mcp-server-fetch@0.6")
        );
        assert_eq!(purl("PyPI", "x", Some(" ")).as_deref(), Some("pkg:pypi/x"));
        assert_eq!(purl("unknown", "x", None), None);
        assert_eq!(purl("npm", " ", None), None);
        assert_eq!(
            purl("docker", "@edubase/mcp", Some("1.0.10")).as_deref(),
            Some("pkg:oci/%40edubase/mcp@1.0.10")
        );
    }
}
