//! The catalogue's JSON Lines exchange format: one server per line, with its tools and,
//! when present, their classifications. `docs/catalog-format.md` documents it.
//!
//! These are wire types, kept apart from `crate::model` so that the model can change
//! without breaking files people keep. Unknown fields are rejected, so a misspelt field is
//! an error that names the line instead of data silently dropped.

use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Catalog, Result, ServerEntry, StoreCounts, ToolEntry};
use crate::model::{
    AnnotationSource, Classification, ExtractionMethod, Remote, ServerRecord, SourceRef, ToolDef,
};
use crate::progress::Progress;

/// One line of the file: a server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerLine {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remotes: Vec<Remote>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stars: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceRef>,
    /// Absent: the line says nothing about tools and stored ones are kept. Present (even
    /// empty): the server's tools are exactly these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<ToolLine>>,
    /// The "could not read" marker: why static extraction found no tool although the
    /// server imports an MCP SDK (its tools are built at run time, say). Absent when the
    /// tools were read or nothing was tried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools_unread: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolLine {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default = "empty_object_schema")]
    pub input_schema: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Value>,
    #[serde(default = "absent")]
    pub annotation_source: AnnotationSource,
    #[serde(default = "imported")]
    pub method: ExtractionMethod,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default = "full_confidence")]
    pub confidence: f64,
    /// Written on export for reference; recomputed on import, never trusted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<Classification>,
}

fn empty_object_schema() -> Value {
    serde_json::json!({"type": "object"})
}
fn absent() -> AnnotationSource {
    AnnotationSource::Absent
}
fn imported() -> ExtractionMethod {
    ExtractionMethod::Import
}
fn full_confidence() -> f64 {
    1.0
}

/// A line that could not be imported, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImportReport {
    pub lines: usize,
    pub stored: StoreCounts,
    pub errors: Vec<LineError>,
}

impl ServerLine {
    /// Checks what serde cannot and converts to the model.
    pub fn into_entry(self) -> Result<ServerEntry, String> {
        let name = self.name.trim().to_owned();
        if name.is_empty() {
            return Err("`name` is empty".to_owned());
        }
        let tools = match self.tools {
            None => None,
            Some(tools) => {
                let mut seen = std::collections::HashSet::new();
                let mut entries = Vec::with_capacity(tools.len());
                for (index, tool) in tools.into_iter().enumerate() {
                    if tool.name.is_empty() {
                        return Err(format!("tools[{index}]: `name` is empty"));
                    }
                    if !seen.insert(tool.name.clone()) {
                        return Err(format!(
                            "tools[{index}]: tool `{}` is listed twice for this server",
                            tool.name
                        ));
                    }
                    if !(0.0..=1.0).contains(&tool.confidence) {
                        return Err(format!(
                            "tools[{index}] (`{}`): confidence {} is outside 0.0..=1.0",
                            tool.name, tool.confidence
                        ));
                    }
                    entries.push(ToolEntry {
                        tool: ToolDef {
                            name: tool.name,
                            title: tool.title,
                            description: tool.description,
                            input_schema: tool.input_schema,
                            annotations: tool.annotations,
                            annotation_source: tool.annotation_source,
                            method: tool.method,
                            location: tool.location,
                            confidence: tool.confidence,
                        },
                        classification: tool.classification,
                    });
                }
                Some(entries)
            }
        };
        let tools_unread = match self.tools_unread {
            Some(reason) if reason.trim().is_empty() => {
                return Err(
                    "`tools_unread` is empty: leave it out when the tools were read".to_owned(),
                );
            }
            other => other,
        };
        Ok(ServerEntry {
            tools_unread,
            // The exchange format does not carry live listings yet.
            live: None,
            server: ServerRecord {
                name,
                title: self.title,
                description: self.description,
                repository: self.repository,
                packages: self.packages,
                remotes: self.remotes,
                language: self.language,
                license: self.license,
                stars: self.stars,
                last_commit: self.last_commit,
                archived: self.archived,
                sources: self.sources,
            },
            tools,
        })
    }

    /// A line for a server known without its tools (a seed list, a registry listing).
    pub fn from_record(record: ServerRecord) -> ServerLine {
        ServerLine {
            name: record.name,
            title: record.title,
            description: record.description,
            repository: record.repository,
            packages: record.packages,
            remotes: record.remotes,
            language: record.language,
            license: record.license,
            stars: record.stars,
            last_commit: record.last_commit,
            archived: record.archived,
            sources: record.sources,
            tools: None,
            tools_unread: None,
        }
    }

    fn from_card(card: super::ServerCard) -> ServerLine {
        // A server marked unread with no tools stored says nothing about tools: an empty
        // list would mean "exactly no tools" and clear the marker on import.
        let say_tools = !(card.tools.is_empty() && card.tools_unread.is_some());
        ServerLine {
            tools_unread: card.tools_unread,
            tools: say_tools.then(|| {
                card.tools
                    .into_iter()
                    .map(|tool_card| {
                        let tool = tool_card.tool;
                        ToolLine {
                            name: tool.name,
                            title: tool.title,
                            description: tool.description,
                            input_schema: tool.input_schema,
                            annotations: tool.annotations,
                            annotation_source: tool.annotation_source,
                            method: tool.method,
                            location: tool.location,
                            confidence: tool.confidence,
                            definition_hash: Some(tool_card.definition_hash),
                            classification: tool_card.classification,
                        }
                    })
                    .collect()
            }),
            ..ServerLine::from_record(card.record)
        }
    }
}

/// How many servers are stored per transaction: large enough to be fast, small enough
/// that an interrupted import keeps most of its work.
const BATCH: usize = 2_000;

/// Imports servers from JSON Lines. Lines that fail to parse or validate are reported with
/// their line number and skipped; every good line is stored. Blank lines and lines
/// starting with `#` are ignored.
pub fn import_jsonl(
    catalog: &mut Catalog,
    input: impl BufRead,
    progress: &dyn Progress,
) -> Result<ImportReport, ImportError> {
    let mut report = ImportReport::default();
    let mut batch = Vec::with_capacity(BATCH);
    for (index, line) in input.lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(|source| ImportError::Read {
            line: number,
            source,
        })?;
        progress.advance(line.len() as u64 + 1);
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        report.lines += 1;
        let parsed = serde_json::from_str::<ServerLine>(trimmed)
            .map_err(|error| error.to_string())
            .and_then(ServerLine::into_entry);
        match parsed {
            Ok(entry) => batch.push(entry),
            Err(message) => report.errors.push(LineError {
                line: number,
                message,
            }),
        }
        if batch.len() >= BATCH {
            add_counts(&mut report.stored, catalog.store_servers(&batch)?);
            batch.clear();
        }
    }
    add_counts(&mut report.stored, catalog.store_servers(&batch)?);
    Ok(report)
}

fn add_counts(total: &mut StoreCounts, batch: StoreCounts) {
    total.inserted += batch.inserted;
    total.updated += batch.updated;
    total.unchanged += batch.unchanged;
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read line {line}")]
    Read {
        line: usize,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Catalog(#[from] super::Error),
}

/// Writes every server, in name order, one per line. Exporting a catalogue and importing
/// the file into an empty one gives back the same export, byte for byte.
pub fn export_jsonl(catalog: &Catalog, mut out: impl Write) -> Result<usize, ExportError> {
    let ids = catalog.server_ids()?;
    for id in &ids {
        let line = ServerLine::from_card(catalog.server_card(*id)?);
        serde_json::to_writer(&mut out, &line).map_err(ExportError::Encode)?;
        out.write_all(b"\n").map_err(ExportError::Write)?;
    }
    out.flush().map_err(ExportError::Write)?;
    Ok(ids.len())
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write the export")]
    Write(#[source] std::io::Error),
    #[error("cannot encode a server as JSON")]
    Encode(#[source] serde_json::Error),
    #[error(transparent)]
    Catalog(#[from] super::Error),
}
