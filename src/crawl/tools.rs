//! The crawl's extraction step: a server's source (a package archive or a local folder)
//! becomes its tools, each classified before it is stored, so `crawl` leaves a catalogue
//! that `catalog show`, `policy generate` and `report` can use at once.
//!
//! Extraction and classification are CPU work; they run on tokio's blocking pool so the
//! fetches of other servers go on meanwhile. A source that yields no tools returns `None`
//! ("nothing learned"), never an empty list, so a package without readable tools does not
//! wipe tools another source stored for the same server.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::catalog::ToolEntry;
use crate::classify::{RuleSet, ServerContext};
use crate::crawl::http::HttpClient;
use crate::crawl::packages;
use crate::crawl::unpack::UnpackLimits;
use crate::extract::{self, Extraction};
use crate::model::{ServerRecord, ToolDef};

/// What extraction learned about one server.
#[derive(Debug, Default)]
pub struct ExtractedTools {
    /// `None` when the source held no readable tool.
    pub tools: Option<Vec<ToolEntry>>,
    /// Registrations whose names could not be resolved statically.
    pub unresolved: usize,
    /// Files passed over (binary, too large, syntax errors...).
    pub skipped: usize,
    /// When no tool was read but the source imports an MCP SDK: why (the catalogue's
    /// "could not read" marker, so the server is not taken for one without tools).
    pub unread: Option<String>,
}

/// Where a crawled server's source can be read, by the source that found it.
#[derive(Debug, Clone)]
pub enum SourceToRead {
    /// A package archive (npm tarball, sdist or wheel) at this URL.
    Archive(String),
    /// The default branch of the server's GitHub repository (its `repository` URL, with
    /// a `/tree/HEAD/<folder>` when the server lives in a subfolder).
    Github,
    /// A local checkout.
    Dir(PathBuf),
    /// The sighting carries no source (registry and seed entries: their packages are
    /// crawled as npm/PyPI items of their own).
    Nothing,
}

/// Shared by all crawl workers.
pub struct Extractor {
    rules: Arc<RuleSet>,
    scratch: PathBuf,
    options: extract::Options,
}

impl Extractor {
    /// `scratch` is a folder for downloads; each server gets its own subfolder, removed
    /// when its tools are read.
    pub fn new(rules: RuleSet, scratch: PathBuf) -> Extractor {
        Extractor {
            rules: Arc::new(rules),
            scratch,
            options: extract::Options::default(),
        }
    }

    /// The rules every tool is classified by.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Reads the tools from wherever `to_read` says. `github` is the GitHub client and API
    /// base when the GitHub source is on; without it a GitHub sighting reads nothing.
    pub async fn read(
        &self,
        client: &HttpClient,
        github: Option<(&HttpClient, &str)>,
        to_read: SourceToRead,
        record: &ServerRecord,
    ) -> Result<ExtractedTools, String> {
        match to_read {
            SourceToRead::Archive(url) => self.from_archive(client, &url, record).await,
            SourceToRead::Dir(dir) => self.from_dir(&dir, record).await,
            SourceToRead::Github => match (github, record.repository.as_deref()) {
                (Some((github, api)), Some(repository)) => {
                    self.from_github(github, api, repository, record).await
                }
                _ => Ok(ExtractedTools::default()),
            },
            SourceToRead::Nothing => Ok(ExtractedTools::default()),
        }
    }

    /// Downloads the repository's tarball (or its subfolder) and extracts its tools.
    pub async fn from_github(
        &self,
        client: &HttpClient,
        api: &str,
        repository: &str,
        record: &ServerRecord,
    ) -> Result<ExtractedTools, String> {
        let folder = tempfile::Builder::new()
            .prefix("repo-")
            .tempdir_in(&self.scratch)
            .map_err(|error| {
                format!(
                    "cannot make a scratch folder in {}: {error}",
                    self.scratch.display()
                )
            })?;
        let source = crate::crawl::github::fetch_source(
            client,
            api,
            repository,
            folder.path(),
            UnpackLimits::default(),
        )
        .await
        .map_err(|error| format!("{repository}: {error}"))?;
        let extracted = self.from_dir(&source, record).await;
        drop(folder);
        extracted
    }

    /// Downloads a package archive, unpacks it safely and extracts its tools.
    pub async fn from_archive(
        &self,
        client: &HttpClient,
        url: &str,
        record: &ServerRecord,
    ) -> Result<ExtractedTools, String> {
        let folder = tempfile::Builder::new()
            .prefix("pkg-")
            .tempdir_in(&self.scratch)
            .map_err(|error| {
                format!(
                    "cannot make a scratch folder in {}: {error}",
                    self.scratch.display()
                )
            })?;
        packages::download_and_unpack(client, url, folder.path(), UnpackLimits::default())
            .await
            .map_err(|error| format!("{url}: {error}"))?;
        let tree = extract::package_root(&folder.path().join("tree"));
        let extracted = self.from_dir(&tree, record).await;
        drop(folder);
        extracted
    }

    /// Extracts the tools of a folder already on disk.
    pub async fn from_dir(
        &self,
        dir: &Path,
        record: &ServerRecord,
    ) -> Result<ExtractedTools, String> {
        let (dir, options, rules) = (dir.to_path_buf(), self.options.clone(), self.rules.clone());
        let record = record.clone();
        tokio::task::spawn_blocking(move || {
            let extraction =
                extract::extract_dir(&dir, &options).map_err(|error| error.to_string())?;
            Ok(classified(&extraction, &record, &rules))
        })
        .await
        .map_err(|error| format!("extraction stopped: {error}"))?
    }
}

/// All tools of an extraction (one package is one server), classified.
pub fn classified(
    extraction: &Extraction,
    record: &ServerRecord,
    rules: &RuleSet,
) -> ExtractedTools {
    let tools: Vec<&ToolDef> = extraction.tools().collect();
    let context = ServerContext {
        name: &record.name,
        description: record.description.as_deref().unwrap_or(""),
    };
    let mut seen = std::collections::HashSet::new();
    let entries: Vec<ToolEntry> = tools
        .into_iter()
        // Two servers in one package may both define a tool of one name; the catalogue
        // holds one per server, the first found.
        .filter(|tool| seen.insert(tool.name.clone()))
        .map(|tool| ToolEntry {
            classification: Some(rules.classify(tool, &context)),
            tool: tool.clone(),
        })
        .collect();
    let unread = if entries.is_empty() {
        extraction
            .servers
            .iter()
            .find_map(|server| server.unread.as_ref())
            .map(|unread| format!("{} ({})", unread.reason, unread.location))
    } else {
        None
    };
    ExtractedTools {
        tools: (!entries.is_empty()).then_some(entries),
        unresolved: extraction
            .servers
            .iter()
            .map(|server| server.unresolved.len())
            .sum(),
        skipped: extraction.skipped.len(),
        unread,
    }
}
