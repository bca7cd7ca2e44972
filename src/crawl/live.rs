//! Live introspection in the crawl: an npm or PyPI server whose source did not settle its
//! tools (or every one, with `--live always`) is installed at its exact version, run in
//! the sandbox and asked for its tools; what it lists is stored beside what its source
//! showed, with the comparison (`model::LiveListing`).
//!
//! The live definition is stored for a tool seen both ways (it is what a client is shown);
//! a tool only the source registers is kept (it may appear with other settings or client
//! capabilities), and the difference is on the server's record.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::catalog::ToolEntry;
use crate::classify::{RuleSet, ServerContext};
use crate::extract::live::{LiveOptions, inspect};
use crate::model::{LiveListing, ServerRecord, ToolDef};
use crate::sandbox::install::{self, Package, Registries};
use crate::sandbox::{Limits, Sandbox, Spec};

/// When the crawl runs servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LiveMode {
    /// Never.
    #[default]
    Never,
    /// When static reading found no tool, or left a registration unresolved or the tools
    /// unread (packages only).
    Auto,
    /// Every npm and PyPI package.
    Always,
}

/// Runs servers for the crawl: the sandbox (or the user's explicit opt-out), the install
/// cache, and a bound on how many run at once (each is an install and a process tree).
#[derive(Debug)]
pub struct LiveRunner {
    pub mode: LiveMode,
    sandbox: Option<Sandbox>,
    cache: PathBuf,
    registries: Registries,
    timeout: Duration,
    running: Semaphore,
}

impl LiveRunner {
    /// `sandbox: None` runs servers unsandboxed: only when the user asked for it.
    pub fn new(
        mode: LiveMode,
        sandbox: Option<Sandbox>,
        cache: PathBuf,
        registries: Registries,
        timeout: Duration,
    ) -> LiveRunner {
        LiveRunner {
            mode,
            sandbox,
            cache,
            registries,
            timeout,
            running: Semaphore::new(2),
        }
    }

    /// Whether this server should be run, given what its source showed.
    pub fn wanted(&self, static_tools: usize, unresolved: usize, unread: bool) -> bool {
        match self.mode {
            LiveMode::Never => false,
            LiveMode::Always => true,
            LiveMode::Auto => static_tools == 0 || unresolved > 0 || unread,
        }
    }

    /// Installs and lists the package the record names. `Ok(None)`: the record names no
    /// pinned npm or PyPI package to run.
    pub async fn list(&self, record: &ServerRecord) -> Option<Result<Vec<ToolDef>, String>> {
        let package = record.packages.iter().find_map(|purl| package_of(purl))?;
        let _permit = self.running.acquire().await.ok()?;
        let cache = self.cache.clone();
        let registries = self.registries.clone();
        let to_install = package.clone();
        let installed = tokio::task::spawn_blocking(move || {
            install::install(&to_install, &cache, &registries, None, None)
        })
        .await;
        let installed = match installed {
            Ok(Ok(installed)) => installed,
            Ok(Err(error)) => return Some(Err(error.to_string())),
            Err(error) => return Some(Err(format!("install stopped: {error}"))),
        };
        let scratch = match tempfile::Builder::new().prefix("mcpwarden-live").tempdir() {
            Ok(scratch) => scratch,
            Err(error) => return Some(Err(format!("no scratch folder: {error}"))),
        };
        let mut options = LiveOptions::new(installed.command.clone());
        options.timeout = self.timeout;
        options.sandbox = self.sandbox.clone().map(|sandbox| {
            let spec = Spec {
                scratch: scratch.path().join("scratch"),
                read_only: installed.read_only.clone(),
                env: Vec::new(),
                limits: Limits {
                    cpu_seconds: self.timeout.as_secs().max(1) * 2,
                    ..Limits::default()
                },
            };
            (sandbox, spec)
        });
        Some(
            inspect(&options)
                .await
                .map(|server| server.tools)
                .map_err(|error| first_lines(&error.to_string(), 6)),
        )
    }

    pub fn sandboxed(&self) -> bool {
        self.sandbox.is_some()
    }
}

fn first_lines(text: &str, count: usize) -> String {
    text.lines().take(count).collect::<Vec<_>>().join("\n")
}

/// `pkg:npm/%40scope/name@1.2.3` or `pkg:pypi/name@1.2.3` as a package to install; `None`
/// without a version (nothing pinned to run) or for other ecosystems.
pub fn package_of(purl: &str) -> Option<Package> {
    let (kind, rest) = purl.strip_prefix("pkg:")?.split_once('/')?;
    let (name, version) = rest.rsplit_once('@')?;
    let name = name.replace("%40", "@");
    if name.is_empty() || version.is_empty() {
        return None;
    }
    match kind {
        "npm" => Some(Package::Npm {
            name,
            version: version.to_owned(),
        }),
        "pypi" => Some(Package::Pypi {
            name,
            version: version.to_owned(),
        }),
        _ => None,
    }
}

/// What a live listing makes of the tools the source showed: the live definitions, plus
/// the tools only the source registers, each classified; and the comparison.
pub fn merge(
    static_tools: Option<Vec<ToolEntry>>,
    live: Result<Vec<ToolDef>, String>,
    record: &ServerRecord,
    rules: &RuleSet,
    sandboxed: bool,
    at: String,
) -> (Option<Vec<ToolEntry>>, LiveListing) {
    let mut listing = LiveListing {
        at,
        sandboxed,
        listed: None,
        failure: None,
        only_static: Vec::new(),
        only_live: Vec::new(),
        differ: Vec::new(),
    };
    let live = match live {
        Ok(live) => live,
        Err(reason) => {
            listing.failure = Some(reason);
            return (static_tools, listing);
        }
    };
    listing.listed = Some(live.len());
    let context = ServerContext {
        name: &record.name,
        description: record.description.as_deref().unwrap_or(""),
    };
    let mut from_source: HashMap<String, ToolEntry> = static_tools
        .unwrap_or_default()
        .into_iter()
        .map(|entry| (entry.tool.name.clone(), entry))
        .collect();
    let mut entries = Vec::with_capacity(live.len() + from_source.len());
    let mut seen = std::collections::HashSet::new();
    for mut tool in live {
        if !seen.insert(tool.name.clone()) {
            continue;
        }
        match from_source.remove(&tool.name) {
            Some(found) => {
                if found.tool.definition_hash() != tool.definition_hash() {
                    listing.differ.push(tool.name.clone());
                }
                tool.location = found.tool.location;
            }
            None => listing.only_live.push(tool.name.clone()),
        }
        entries.push(ToolEntry {
            classification: Some(rules.classify(&tool, &context)),
            tool,
        });
    }
    let mut rest: Vec<ToolEntry> = from_source.into_values().collect();
    for entry in &mut rest {
        if entry.classification.is_none() {
            entry.classification = Some(rules.classify(&entry.tool, &context));
        }
    }
    rest.sort_by(|a, b| a.tool.name.cmp(&b.tool.name));
    listing.only_static = rest.iter().map(|entry| entry.tool.name.clone()).collect();
    entries.extend(rest);
    listing.differ.sort();
    listing.only_live.sort();
    ((!entries.is_empty()).then_some(entries), listing)
}

/// Shared by the crawl's workers.
pub type SharedLiveRunner = Option<Arc<LiveRunner>>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AnnotationSource, ExtractionMethod};

    fn tool(name: &str, description: &str, method: ExtractionMethod) -> ToolDef {
        ToolDef {
            name: name.to_owned(),
            title: None,
            description: description.to_owned(),
            input_schema: serde_json::json!({"type": "object"}),
            annotations: None,
            annotation_source: AnnotationSource::Absent,
            method,
            location: (method != ExtractionMethod::Live).then(|| "src/index.ts:3".to_owned()),
            confidence: 1.0,
        }
    }

    #[test]
    fn purls_with_a_version_are_packages_to_run() {
        assert_eq!(
            package_of("pkg:npm/%40scope/server@1.2.3"),
            Some(Package::Npm {
                name: "@scope/server".into(),
                version: "1.2.3".into()
            })
        );
        assert!(package_of("pkg:npm/server").is_none());
        assert!(package_of("pkg:oci/server@1").is_none());
    }

    #[test]
    fn a_live_listing_keeps_source_only_tools_and_names_every_difference() {
        let rules = RuleSet::embedded().unwrap();
        let record = ServerRecord {
            name: "demo".into(),
            ..ServerRecord::default()
        };
        let from_source = vec![
            tool("same", "Echo.", ExtractionMethod::StaticTs),
            tool("changed", "Old words.", ExtractionMethod::StaticTs),
            tool("gated", "Needs a setting.", ExtractionMethod::StaticTs),
        ]
        .into_iter()
        .map(|tool| ToolEntry {
            tool,
            classification: None,
        })
        .collect();
        let live = vec![
            tool("same", "Echo.", ExtractionMethod::Live),
            tool("changed", "New words.", ExtractionMethod::Live),
            tool("surprise", "Not in the source.", ExtractionMethod::Live),
        ];
        let (tools, listing) = merge(
            Some(from_source),
            Ok(live),
            &record,
            &rules,
            true,
            "2026-12-07T00:00:00Z".into(),
        );
        let tools = tools.unwrap();
        let names: Vec<&str> = tools.iter().map(|entry| entry.tool.name.as_str()).collect();
        assert_eq!(names, ["same", "changed", "surprise", "gated"]);
        assert_eq!(
            tools[1].tool.description, "New words.",
            "the live one is kept"
        );
        assert_eq!(tools[1].tool.location.as_deref(), Some("src/index.ts:3"));
        assert!(tools.iter().all(|entry| entry.classification.is_some()));
        assert_eq!(listing.listed, Some(3));
        assert_eq!(listing.only_live, ["surprise"]);
        assert_eq!(listing.only_static, ["gated"]);
        assert_eq!(listing.differ, ["changed"]);
    }

    #[test]
    fn a_failed_run_keeps_what_the_source_showed_and_says_why() {
        let rules = RuleSet::embedded().unwrap();
        let (tools, listing) = merge(
            None,
            Err("did not complete initialize".into()),
            &ServerRecord::default(),
            &rules,
            true,
            "t".into(),
        );
        assert!(tools.is_none());
        assert_eq!(listing.listed, None);
        assert_eq!(
            listing.failure.as_deref(),
            Some("did not complete initialize")
        );
    }
}
