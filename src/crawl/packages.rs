//! npm and PyPI as crawl sources, by package name: metadata to a [`ServerRecord`], then
//! the package's archive downloaded and unpacked for extraction.
//!
//! Where the registries are is configuration, never a host written here: a flag, then the
//! environment (`npm_config_registry`, `PIP_INDEX_URL`), then the user's own npm or pip
//! configuration, read by asking `npm` and `pip` themselves (they know the user's files and
//! their built-in defaults better than a copy of those rules would).

use std::path::Path;
use std::process::Command;

use serde::Deserialize;
use serde_json::Value;

use super::http::{HttpClient, HttpError};
use super::registry::{normalize_repository_url, purl, with_folder};
use super::unpack::{UnpackError, UnpackLimits, UnpackReport, unpack};
use crate::model::{ServerRecord, SourceRef};

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error(
        "no npm registry is configured: pass --npm-registry URL, set npm_config_registry, or install npm \
         (its configuration names the registry)"
    )]
    NoNpmRegistry,
    #[error(
        "no PyPI index is configured: pass --pypi-index URL, set PIP_INDEX_URL, or install pip \
         (its configuration names the index)"
    )]
    NoPypiIndex,
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("{url}: not the package metadata mcpwarden expected")]
    BadMetadata {
        url: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{package}: the registry has no version {version}")]
    NoSuchVersion { package: String, version: String },
    #[error("{package}: the registry lists no version to fetch")]
    NoVersion { package: String },
    #[error("{package}: no source distribution or wheel to download")]
    NoArchive { package: String },
    #[error("cannot write the downloaded archive to {path}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Unpack(#[from] UnpackError),
}

/// The npm registry to use: `flag`, else `npm_config_registry`, else what `npm config get
/// registry` says.
pub fn npm_registry(flag: Option<&str>) -> Result<String, PackageError> {
    if let Some(url) = flag.filter(|url| !url.is_empty()) {
        return Ok(url.trim_end_matches('/').to_owned());
    }
    for variable in ["npm_config_registry", "NPM_CONFIG_REGISTRY"] {
        if let Ok(url) = std::env::var(variable)
            && !url.is_empty()
        {
            return Ok(url.trim_end_matches('/').to_owned());
        }
    }
    ask_tool("npm", &["config", "get", "registry"])
        .map(|url| url.trim_end_matches('/').to_owned())
        .ok_or(PackageError::NoNpmRegistry)
}

/// The PyPI JSON API base to use: `flag`, else `PIP_INDEX_URL`, else pip's configured
/// `index-url`, else pip's built-in default. An index URL ending in `/simple` is the same
/// host's JSON API without it.
pub fn pypi_index(flag: Option<&str>) -> Result<String, PackageError> {
    let configured = flag
        .filter(|url| !url.is_empty())
        .map(str::to_owned)
        .or_else(|| {
            std::env::var("PIP_INDEX_URL")
                .ok()
                .filter(|url| !url.is_empty())
        })
        .or_else(|| ask_tool("pip", &["config", "get", "global.index-url"]))
        .or_else(|| {
            ask_tool(
                "python3",
                &[
                    "-c",
                    "from pip._internal.models.index import PyPI; print(PyPI.simple_url)",
                ],
            )
        })
        .ok_or(PackageError::NoPypiIndex)?;
    Ok(json_api_base(&configured))
}

fn json_api_base(index: &str) -> String {
    let trimmed = index.trim().trim_end_matches('/');
    trimmed
        .strip_suffix("/simple")
        .unwrap_or(trimmed)
        .to_owned()
}

/// Runs a package tool for one line of configuration; `None` if it is missing or says
/// nothing useful.
fn ask_tool(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let line = text
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("http"))?;
    Some(line.to_owned())
}

/// A package found on a registry: what the catalogue records, and where its code is.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundPackage {
    pub record: ServerRecord,
    pub version: String,
    pub archive_url: String,
}

#[derive(Debug, Deserialize)]
struct Packument {
    name: String,
    #[serde(rename = "dist-tags", default)]
    dist_tags: std::collections::HashMap<String, String>,
    #[serde(default)]
    versions: serde_json::Map<String, Value>,
    description: Option<String>,
    repository: Option<Value>,
    license: Option<Value>,
    time: Option<std::collections::HashMap<String, String>>,
}

/// Fetches an npm package's metadata and picks its `latest` version, or the version
/// `name@version` pins.
pub async fn npm_package(
    client: &HttpClient,
    registry: &str,
    spec: &str,
) -> Result<FoundPackage, PackageError> {
    // `@scope/name@1.2.3`: the last `@` after the first character starts the version.
    let (name, pinned) = match spec.rfind('@') {
        Some(at) if at > 0 => (&spec[..at], Some(&spec[at + 1..])),
        _ => (spec, None),
    };
    // A scoped name keeps its `@` and encodes its slash, as npm clients send it.
    let encoded = name.replace('/', "%2F");
    let url = format!("{}/{encoded}", registry.trim_end_matches('/'));
    let fetched = client.get(&url).await?;
    let packument: Packument =
        serde_json::from_slice(&fetched.body).map_err(|source| PackageError::BadMetadata {
            url: url.clone(),
            source,
        })?;
    let version = match pinned {
        Some(pinned) if packument.versions.contains_key(pinned) => pinned.to_owned(),
        Some(pinned) => {
            return Err(PackageError::NoSuchVersion {
                package: name.to_owned(),
                version: pinned.to_owned(),
            });
        }
        None => packument
            .dist_tags
            .get("latest")
            .cloned()
            .or_else(|| packument.versions.keys().next_back().cloned())
            .ok_or_else(|| PackageError::NoVersion {
                package: name.to_owned(),
            })?,
    };
    let manifest = packument
        .versions
        .get(&version)
        .cloned()
        .unwrap_or(Value::Null);
    let archive_url = manifest
        .pointer("/dist/tarball")
        .and_then(Value::as_str)
        .map(|link| resolve_url(&url, link))
        .ok_or_else(|| PackageError::NoArchive {
            package: name.to_owned(),
        })?;
    let text = |value: Option<&Value>| -> Option<String> {
        match value? {
            Value::String(text) => Some(text.clone()),
            Value::Object(object) => object
                .get("url")
                .or_else(|| object.get("type"))?
                .as_str()
                .map(str::to_owned),
            _ => None,
        }
    };
    let repository_field = manifest.get("repository").or(packument.repository.as_ref());
    // npm records a monorepo package's folder as `repository.directory`.
    let directory = repository_field
        .and_then(|field| field.get("directory"))
        .and_then(Value::as_str);
    let repository = text(repository_field)
        .and_then(|url| normalize_repository_url(&url))
        .map(|url| with_folder(url, directory));
    let record = ServerRecord {
        // Named by the package: several packages may share one repository. The crawl
        // merges the sighting into a server already known by this package or repository.
        name: packument.name.clone(),
        description: manifest
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or(packument.description),
        repository,
        packages: purl("npm", &packument.name, Some(&version))
            .into_iter()
            .collect(),
        license: text(manifest.get("license")).or_else(|| text(packument.license.as_ref())),
        last_commit: packument
            .time
            .as_ref()
            .and_then(|time| time.get(&version))
            .cloned(),
        sources: vec![SourceRef {
            source: "npm".to_owned(),
            id: packument.name,
            seen_at: None,
        }],
        ..ServerRecord::default()
    };
    Ok(FoundPackage {
        record,
        version,
        archive_url,
    })
}

#[derive(Debug, Deserialize)]
struct PypiProject {
    info: PypiInfo,
    #[serde(default)]
    urls: Vec<PypiFile>,
    #[serde(default)]
    releases: std::collections::HashMap<String, Vec<PypiFile>>,
}

#[derive(Debug, Deserialize)]
struct PypiInfo {
    name: String,
    version: String,
    summary: Option<String>,
    license: Option<String>,
    home_page: Option<String>,
    project_urls: Option<std::collections::HashMap<String, String>>,
}

#[derive(Debug, Deserialize)]
struct PypiFile {
    packagetype: String,
    url: String,
    upload_time_iso_8601: Option<String>,
}

/// Fetches a PyPI project's metadata for its latest version (or the one `name==version`
/// pins), preferring the sdist (it has the source as written) over a wheel.
pub async fn pypi_package(
    client: &HttpClient,
    index: &str,
    spec: &str,
) -> Result<FoundPackage, PackageError> {
    // `name==version`: the project's JSON lists every release's files (one document for
    // every index that serves the JSON API, unlike the per-version URL).
    let (name, pinned) = match spec.split_once("==") {
        Some((name, version)) => (name.trim(), Some(version.trim())),
        None => (spec, None),
    };
    let url = format!("{}/pypi/{name}/json", index.trim_end_matches('/'));
    let fetched = client.get(&url).await?;
    let project: PypiProject =
        serde_json::from_slice(&fetched.body).map_err(|source| PackageError::BadMetadata {
            url: url.clone(),
            source,
        })?;
    let mut project = project;
    if let Some(pinned) = pinned {
        let files = project
            .releases
            .remove(pinned)
            .filter(|files| !files.is_empty())
            .ok_or_else(|| PackageError::NoSuchVersion {
                package: name.to_owned(),
                version: pinned.to_owned(),
            })?;
        project.urls = files;
        project.info.version = pinned.to_owned();
    }
    let file = project
        .urls
        .iter()
        .find(|file| file.packagetype == "sdist")
        .or_else(|| {
            project
                .urls
                .iter()
                .find(|file| file.packagetype == "bdist_wheel")
        })
        .ok_or_else(|| PackageError::NoArchive {
            package: name.to_owned(),
        })?;
    let info = project.info;
    let repository = info
        .project_urls
        .iter()
        .flatten()
        .filter(|(label, _)| {
            let label = label.to_ascii_lowercase();
            ["source", "repository", "code", "github", "homepage"]
                .iter()
                .any(|word| label.contains(word))
        })
        .map(|(_, url)| url.as_str())
        .chain(info.home_page.as_deref())
        .find_map(normalize_repository_url);
    let record = ServerRecord {
        name: info.name.clone(),
        description: info.summary,
        repository,
        packages: purl("pypi", &info.name, Some(&info.version))
            .into_iter()
            .collect(),
        license: info
            .license
            .filter(|license| !license.is_empty() && license.len() < 100),
        last_commit: file.upload_time_iso_8601.clone(),
        sources: vec![SourceRef {
            source: "pypi".to_owned(),
            id: info.name,
            seen_at: None,
        }],
        ..ServerRecord::default()
    };
    Ok(FoundPackage {
        record,
        version: info.version,
        archive_url: resolve_url(&url, &file.url),
    })
}

/// `link` as an absolute URL: some indexes and mirrors answer with file URLs relative to
/// the document that lists them (`../../packages/...`).
fn resolve_url(document: &str, link: &str) -> String {
    reqwest::Url::parse(document)
        .and_then(|base| base.join(link))
        .map_or_else(|_| link.to_owned(), String::from)
}

/// Downloads `url` into `scratch/archive` and unpacks it into `scratch/tree`.
pub async fn download_and_unpack(
    client: &HttpClient,
    url: &str,
    scratch: &Path,
    limits: UnpackLimits,
) -> Result<UnpackReport, PackageError> {
    let fetched = client.get(url).await?;
    let archive = scratch.join("archive");
    let write_error = |source| PackageError::Write {
        path: archive.display().to_string(),
        source,
    };
    fs_err::create_dir_all(scratch).map_err(write_error)?;
    fs_err::write(&archive, &fetched.body).map_err(write_error)?;
    let tree = scratch.join("tree");
    let archive_path = archive.clone();
    // Unpacking is blocking file work; keep it off the async workers.
    let report = tokio::task::spawn_blocking(move || unpack(&archive_path, &tree, limits))
        .await
        .map_err(|error| PackageError::Write {
            path: archive.display().to_string(),
            source: std::io::Error::other(error),
        })??;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_file_links_resolve_against_their_document() {
        assert_eq!(
            resolve_url(
                "http://127.0.0.1:9/pypi/x/json",
                "../../packages/a/x-1.tar.gz"
            ),
            "http://127.0.0.1:9/packages/a/x-1.tar.gz"
        );
        assert_eq!(
            resolve_url("http://127.0.0.1:9/pypi/x/json", "http://127.0.0.1:8/f.tgz"),
            "http://127.0.0.1:8/f.tgz"
        );
    }

    #[test]
    fn the_json_api_lives_beside_the_simple_index() {
        assert_eq!(
            json_api_base("http://127.0.0.1:9/simple/"),
            "http://127.0.0.1:9"
        );
        assert_eq!(
            json_api_base("http://127.0.0.1:9/mirror/simple"),
            "http://127.0.0.1:9/mirror"
        );
        assert_eq!(json_api_base("http://127.0.0.1:9/"), "http://127.0.0.1:9");
    }

    #[test]
    fn a_flag_wins_over_everything() {
        assert_eq!(
            npm_registry(Some("http://127.0.0.1:1/")).unwrap(),
            "http://127.0.0.1:1"
        );
        assert_eq!(
            pypi_index(Some("http://127.0.0.1:2/simple")).unwrap(),
            "http://127.0.0.1:2"
        );
    }
}
