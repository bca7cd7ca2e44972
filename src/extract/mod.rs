//! Reading the tools a server defines from its source tree, without running it, and live
//! over stdio (`live`).
//!
//! Static extraction walks a tree (`walk`), drops what cannot hold a tool definition
//! (binary, over 64 MB, invalid UTF-8, tests, examples, `node_modules`), runs a cheap
//! literal prefilter per language and hands the files that pass to the language's
//! tree-sitter extractor (`js`, `python`, `go`, `rust_lang`, `manifest`). Files are
//! independent, so they are parsed in parallel with rayon. The results are grouped by
//! server (the nearest folder with a package manifest) and deduplicated by tool name, so a
//! tool defined in `src/` and again in the compiled `dist/` counts once.
//!
//! Every extractor follows the same contract ([`FileOutcome`]):
//! - a tool whose name is resolved is returned as a [`ToolDef`] with `location`
//!   (`path:line`, relative to the extraction root), `method`, `annotation_source` and a
//!   confidence in 0..=1;
//! - a registration whose name cannot be resolved statically is reported in `unresolved`,
//!   never invented;
//! - recursion over syntax trees is bounded by [`syntax::MAX_DEPTH`], so deeply nested
//!   input ends in a skip reason rather than a stack overflow.

pub mod go;
pub mod js;
pub mod live;
pub mod manifest;
pub mod python;
pub mod rust_lang;
pub mod sdk;
pub mod syntax;
pub mod walk;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use crate::model::{ExtractionMethod, ToolDef};

pub use walk::{Language, SkipReason, Skipped};

/// Files larger than this are skipped and noted (a reported reason, never silent).
/// Bundles of 5–8 MB with every dependency inlined are common and hold the server's
/// tools; JavaScript that large is read in windows (`js::window`).
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// What to read.
#[derive(Debug, Clone)]
pub struct Options {
    /// Also read `test`/`tests`/`__tests__`/`examples` folders and `*.test.*` files.
    pub include_tests: bool,
    /// Also read `node_modules`, `vendor`, `.venv` and other dependency folders.
    pub include_dependencies: bool,
    pub max_file_bytes: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            include_tests: false,
            include_dependencies: false,
            max_file_bytes: MAX_FILE_BYTES,
        }
    }
}

/// One source file handed to a language extractor.
#[derive(Debug, Clone, Copy)]
pub struct SourceFile<'a> {
    /// The extraction root: relative imports are resolved inside it and nowhere else.
    pub root: &'a Path,
    /// Absolute (or root-joined) path of the file.
    pub path: &'a Path,
    /// The path relative to the root with `/` separators; used in `location`.
    pub rel: &'a str,
    pub text: &'a str,
    pub language: Language,
}

impl SourceFile<'_> {
    /// `rel:line` for a 0-based tree-sitter row.
    pub fn location(&self, row: usize) -> String {
        format!("{}:{}", self.rel, row + 1)
    }

    /// Reads a file one relative import away (`./schemas`, `../types.js`, `.models`),
    /// resolved against this file's folder. Returns `None` for anything that would leave
    /// the root, is missing, too large or not UTF-8. The caller tries the extensions.
    pub fn read_relative(&self, relative: &Path) -> Option<(PathBuf, String)> {
        let folder = self.path.parent()?;
        let candidate = folder.join(relative);
        let canonical = candidate.canonicalize().ok()?;
        let root = self.root.canonicalize().ok()?;
        if !canonical.starts_with(&root) || !canonical.is_file() {
            return None;
        }
        let metadata = std::fs::metadata(&canonical).ok()?;
        if metadata.len() > MAX_FILE_BYTES {
            return None;
        }
        let bytes = std::fs::read(&canonical).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        Some((canonical, text))
    }
}

/// A registration that was found but whose tool name could not be resolved statically.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unresolved {
    /// `path:line`.
    pub location: String,
    pub method: ExtractionMethod,
    /// Why, in words: "tool name is the variable `name`, assigned at run time".
    pub reason: String,
}

/// What one extractor read from one file.
#[derive(Debug, Clone, Default)]
pub struct FileOutcome {
    pub tools: Vec<ToolDef>,
    pub unresolved: Vec<Unresolved>,
    /// The first row (0-based) with a syntax error, when the parse had one. Tools found
    /// around the error are kept; a file with an error and no tools is reported skipped.
    pub syntax_error_row: Option<usize>,
    /// Set when the extractor gave up on the file (nesting deeper than
    /// [`syntax::MAX_DEPTH`], a parser failure); the file is reported skipped with this.
    pub gave_up: Option<SkipReason>,
    /// Python: the server object each tool was registered on, by index into `tools`, and
    /// the `mount`/`import_server` calls that prefix a mounted server's tool names
    /// (applied once the whole server is read: [`python::apply_mounts`]).
    pub owners: Vec<(usize, python::ServerObject)>,
    pub mounts: Vec<python::Mount>,
}

/// The tools of one server found in the tree.
#[derive(Debug, Clone, Serialize)]
pub struct ServerTools {
    /// The package or module name from the nearest manifest, else the folder name.
    pub name: String,
    /// The server's folder, relative to the extraction root (`.` for the root).
    pub root: String,
    pub tools: Vec<ToolDef>,
    pub unresolved: Vec<Unresolved>,
    /// Set when the server imports an MCP SDK but no tool of it could be read: its tool
    /// list is unknown, not empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread: Option<UnreadTools>,
}

/// Why a server that uses an MCP SDK has no tools in the extraction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnreadTools {
    /// `path:line` of the SDK import.
    pub location: String,
    /// The SDK imported (`@modelcontextprotocol/sdk`, `mcp`, `fastmcp`, `rmcp`...).
    pub sdk: String,
    /// In words, e.g. "imports @modelcontextprotocol/sdk but registers its tools
    /// dynamically: ...".
    pub reason: String,
}

/// Everything extraction found under one root.
#[derive(Debug, Clone, Serialize)]
pub struct Extraction {
    pub root: String,
    pub servers: Vec<ServerTools>,
    pub skipped: Vec<Skipped>,
    pub stats: ExtractStats,
}

impl Extraction {
    /// All tools of all servers, in server order.
    pub fn tools(&self) -> impl Iterator<Item = &ToolDef> {
        self.servers.iter().flat_map(|server| server.tools.iter())
    }

    pub fn tool_count(&self) -> usize {
        self.servers.iter().map(|server| server.tools.len()).sum()
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ExtractStats {
    /// Files the walk considered (source files of a known language).
    pub files_seen: usize,
    /// Files that passed the prefilter and were parsed.
    pub files_parsed: usize,
    /// Bytes of all files considered.
    pub bytes: u64,
    /// Tool definitions found before deduplication.
    pub definitions: usize,
    pub elapsed_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("{path}: no such file or folder")]
    Missing { path: PathBuf },
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Archive { path: PathBuf, message: String },
}

/// Extracts every tool defined under `root` (a folder).
pub fn extract_dir(root: &Path, options: &Options) -> Result<Extraction, ExtractError> {
    let started = Instant::now();
    if !root.exists() {
        return Err(ExtractError::Missing {
            path: root.to_path_buf(),
        });
    }
    let walked = walk::walk(root, options).map_err(|source| ExtractError::Read {
        path: root.to_path_buf(),
        source,
    })?;
    let mut stats = ExtractStats {
        files_seen: walked.files.len(),
        bytes: walked.files.iter().map(|file| file.bytes).sum(),
        ..ExtractStats::default()
    };

    let outcomes: Vec<(usize, FileResult)> = walked
        .files
        .par_iter()
        .enumerate()
        .map(|(index, file)| (index, read_and_extract(root, file, options)))
        .collect();

    let mut skipped = walked.skipped;
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    let mut server_roots = walk::ServerRoots::new(root);
    // The first SDK import of each server, by server root.
    let mut sdk_imports: BTreeMap<String, (String, UnreadTools)> = BTreeMap::new();
    for (index, result) in outcomes {
        let file = &walked.files[index];
        let sdk = match &result {
            FileResult::NotParsed(sdk) | FileResult::Parsed(_, sdk) => sdk.clone(),
            FileResult::Skipped(_) => None,
        };
        if let Some(import) = sdk {
            let (server_root, name) = server_roots.server_for(&file.path);
            sdk_imports.entry(server_root).or_insert_with(|| {
                (
                    name,
                    UnreadTools {
                        location: format!("{}:{}", file.rel, import.row + 1),
                        sdk: import.sdk.to_owned(),
                        reason: String::new(),
                    },
                )
            });
        }
        let outcome = match result {
            FileResult::NotParsed(_) => continue,
            FileResult::Skipped(reason) => {
                skipped.push(Skipped {
                    path: file.rel.clone(),
                    reason,
                });
                continue;
            }
            FileResult::Parsed(outcome, _) => outcome,
        };
        stats.files_parsed += 1;
        if let Some(reason) = outcome.gave_up {
            skipped.push(Skipped {
                path: file.rel.clone(),
                reason,
            });
            continue;
        }
        if let Some(row) = outcome.syntax_error_row
            && outcome.tools.is_empty()
            && outcome.unresolved.is_empty()
        {
            skipped.push(Skipped {
                path: file.rel.clone(),
                reason: SkipReason::SyntaxError { line: row + 1 },
            });
            continue;
        }
        if outcome.tools.is_empty() && outcome.unresolved.is_empty() && outcome.mounts.is_empty() {
            continue;
        }
        stats.definitions += outcome.tools.len();
        let (server_root, name) = server_roots.server_for(&file.path);
        let group = groups.entry(server_root.clone()).or_insert_with(|| Group {
            name,
            ..Group::default()
        });
        let offset = group.tools.len();
        group.tools.extend(outcome.tools);
        group.unresolved.extend(outcome.unresolved);
        group.owners.extend(
            outcome
                .owners
                .into_iter()
                .map(|(index, owner)| (offset + index, owner)),
        );
        group.mounts.extend(outcome.mounts);
    }

    for (server_root, (name, import)) in sdk_imports {
        // The SDK's own package mentions itself; it is a library, not a server.
        if name == import.sdk || name.ends_with(&format!("/{}", import.sdk)) {
            continue;
        }
        let group = groups.entry(server_root).or_insert_with(|| Group {
            name,
            ..Group::default()
        });
        if group.tools.is_empty() {
            group.unread = Some(unread_reason(import, group.unresolved.len()));
        }
    }

    let servers = groups
        .into_iter()
        .map(|(server_root, mut group)| {
            python::apply_mounts(&mut group.tools, &group.owners, &group.mounts);
            (server_root, group)
        })
        .map(|(server_root, group)| ServerTools {
            name: group.name,
            root: server_root,
            tools: dedup(group.tools),
            unresolved: group.unresolved,
            unread: group.unread,
        })
        .collect();
    let mut servers: Vec<ServerTools> = servers;
    if servers.is_empty()
        && let Some(package) = mcp_package(root)
        && !sdk::is_sdk_package(&package.name)
    {
        // A package that says it is an MCP server, with nothing read: its tool list is
        // unknown, not empty.
        servers.push(ServerTools {
            name: package.name.clone(),
            root: ".".to_owned(),
            tools: Vec::new(),
            unresolved: Vec::new(),
            unread: Some(package.unread(stats.files_seen, skipped.len())),
        });
    }
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    stats.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(Extraction {
        root: root.display().to_string(),
        servers,
        skipped,
        stats,
    })
}

/// Extracts from a folder or an archive (`.tgz`, `.tar.gz`, `.tar`, `.zip`, `.whl`),
/// which is unpacked safely into a temporary folder first.
pub fn extract_path(path: &Path, options: &Options) -> Result<Extraction, ExtractError> {
    if path.is_dir() {
        return extract_dir(path, options);
    }
    if !path.exists() {
        return Err(ExtractError::Missing {
            path: path.to_path_buf(),
        });
    }
    let kind =
        crate::crawl::unpack::ArchiveKind::sniff(path).map_err(|source| ExtractError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    if kind.is_none() {
        return Err(ExtractError::Archive {
            path: path.to_path_buf(),
            message: "not a folder and not an archive this can unpack \
                      (expected .tgz, .tar.gz, .tar, .zip or .whl)"
                .to_owned(),
        });
    }
    let scratch = tempfile::tempdir().map_err(|source| ExtractError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let tree = scratch.path().join("tree");
    crate::crawl::unpack::unpack(path, &tree, crate::crawl::unpack::UnpackLimits::default())
        .map_err(|error| ExtractError::Archive {
            path: path.to_path_buf(),
            message: error.to_string(),
        })?;
    let mut extraction = extract_dir(&package_root(&tree), options)?;
    extraction.root = path.display().to_string();
    Ok(extraction)
}

/// The folder an unpacked archive's files live in: npm tarballs put everything under
/// `package/`, sdists and GitHub tarballs under `<name>-<version>/`. Locations read better
/// (and match the package's own paths) relative to that folder.
pub fn package_root(tree: &Path) -> PathBuf {
    let Ok(entries) = std::fs::read_dir(tree) else {
        return tree.to_path_buf();
    };
    let entries: Vec<_> = entries.filter_map(Result::ok).take(2).collect();
    match entries.as_slice() {
        [only] if only.file_type().is_ok_and(|kind| kind.is_dir()) => only.path(),
        _ => tree.to_path_buf(),
    }
}

#[derive(Default)]
struct Group {
    name: String,
    tools: Vec<ToolDef>,
    unresolved: Vec<Unresolved>,
    unread: Option<UnreadTools>,
    owners: Vec<(usize, python::ServerObject)>,
    mounts: Vec<python::Mount>,
}

/// The marker for a server that imports an SDK and yielded no tool.
/// A package whose manifest presents it as an MCP server: its name, keywords or
/// dependencies say so.
struct McpPackage {
    name: String,
    /// The manifest, relative to the root.
    manifest: String,
    /// Why it counts as one, in words.
    evidence: String,
    dependencies: Vec<String>,
}

impl McpPackage {
    fn unread(&self, files: usize, skipped: usize) -> UnreadTools {
        let mut reason = format!(
            "{} but no tool registration was found in its {files} files",
            self.evidence
        );
        if skipped > 0 {
            reason.push_str(&format!(" ({skipped} could not be read)"));
        }
        reason.push_str(": its tools are built at run time, live in a shipped binary");
        if self.dependencies.is_empty() {
            reason.push_str(" or come from a dependency");
        } else {
            let shown: Vec<&str> = self
                .dependencies
                .iter()
                .take(4)
                .map(String::as_str)
                .collect();
            reason.push_str(&format!(
                " or are registered in a dependency ({}{})",
                shown.join(", "),
                if self.dependencies.len() > shown.len() {
                    ", ..."
                } else {
                    ""
                }
            ));
        }
        UnreadTools {
            location: self.manifest.clone(),
            sdk: String::new(),
            reason,
        }
    }
}

/// Reads the manifest at `root` (`package.json`, a wheel's `*.dist-info/METADATA`,
/// `pyproject.toml`) and says whether it presents an MCP server.
fn mcp_package(root: &Path) -> Option<McpPackage> {
    let is_mcp_word = |text: &str| {
        text.to_ascii_lowercase()
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|word| word == "mcp" || word == "modelcontextprotocol")
            || text.contains("model-context-protocol")
    };
    if let Ok(text) = std::fs::read_to_string(root.join("package.json"))
        && let Ok(manifest) = serde_json::from_str::<serde_json::Value>(&text)
    {
        let name = manifest.get("name")?.as_str()?.to_owned();
        let dependencies: Vec<String> = manifest
            .get("dependencies")
            .and_then(|deps| deps.as_object())
            .map(|deps| deps.keys().cloned().collect())
            .unwrap_or_default();
        let keywords: Vec<&str> = manifest
            .get("keywords")
            .and_then(|keywords| keywords.as_array())
            .map(|keywords| keywords.iter().filter_map(|k| k.as_str()).collect())
            .unwrap_or_default();
        let evidence = if is_mcp_word(&name) {
            format!("the package `{name}` is named as an MCP server")
        } else if let Some(keyword) = keywords.iter().find(|keyword| is_mcp_word(keyword)) {
            format!("the package `{name}` has the keyword `{keyword}`")
        } else if let Some(dependency) = dependencies.iter().find(|dep| is_mcp_word(dep)) {
            format!("the package `{name}` depends on `{dependency}`")
        } else {
            return None;
        };
        return Some(McpPackage {
            name,
            manifest: "package.json".to_owned(),
            evidence,
            dependencies,
        });
    }
    let (manifest, text) = std::fs::read_dir(root)
        .ok()?
        .filter_map(Result::ok)
        .find(|entry| entry.file_name().to_string_lossy().ends_with(".dist-info"))
        .and_then(|entry| {
            let manifest = format!("{}/METADATA", entry.file_name().to_string_lossy());
            Some((
                manifest,
                std::fs::read_to_string(entry.path().join("METADATA")).ok()?,
            ))
        })?;
    let name = text
        .lines()
        .find_map(|line| line.strip_prefix("Name:"))?
        .trim()
        .to_owned();
    let dependencies: Vec<String> = text
        .lines()
        .filter_map(|line| line.strip_prefix("Requires-Dist:"))
        .filter(|requirement| !requirement.contains("extra =="))
        .filter_map(|requirement| {
            let requirement = requirement.trim();
            let end = requirement
                .find(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c)))
                .unwrap_or(requirement.len());
            (end > 0).then(|| requirement[..end].to_owned())
        })
        .collect();
    let evidence = if is_mcp_word(&name) {
        format!("the project `{name}` is named as an MCP server")
    } else if let Some(dependency) = dependencies.iter().find(|dep| is_mcp_word(dep)) {
        format!("the project `{name}` requires `{dependency}`")
    } else {
        return None;
    };
    Some(McpPackage {
        name,
        manifest,
        evidence,
        dependencies,
    })
}

fn unread_reason(mut import: UnreadTools, unresolved: usize) -> UnreadTools {
    import.reason = if unresolved > 0 {
        format!(
            "imports {} but registers its tools dynamically: {} registration{} could not be \
             resolved statically",
            import.sdk,
            unresolved,
            if unresolved == 1 { "" } else { "s" }
        )
    } else {
        format!(
            "imports {} but no tool registration could be read: its tools are built at run \
             time or registered inside a dependency",
            import.sdk
        )
    };
    import
}

enum FileResult {
    /// The prefilter found nothing that could register a tool (the file may still
    /// import an SDK).
    NotParsed(Option<sdk::SdkImport>),
    Skipped(SkipReason),
    Parsed(FileOutcome, Option<sdk::SdkImport>),
}

fn read_and_extract(root: &Path, file: &walk::WalkedFile, options: &Options) -> FileResult {
    if file.bytes > options.max_file_bytes {
        return FileResult::Skipped(SkipReason::TooLarge {
            bytes: file.bytes,
            limit: options.max_file_bytes,
        });
    }
    let bytes = match std::fs::read(&file.path) {
        Ok(bytes) => bytes,
        Err(error) => return FileResult::Skipped(SkipReason::Unreadable(error.to_string())),
    };
    if walk::looks_binary(&bytes) {
        return FileResult::Skipped(SkipReason::Binary);
    }
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            return FileResult::Skipped(SkipReason::InvalidUtf8 {
                offset: error.utf8_error().valid_up_to(),
            });
        }
    };
    let sdk = sdk::sdk_import(file.language, &text);
    if !prefilter(file.language, &text) {
        return FileResult::NotParsed(sdk);
    }
    let source = SourceFile {
        root,
        path: &file.path,
        rel: &file.rel,
        text: &text,
        language: file.language,
    };
    let outcome = match file.language {
        Language::TypeScript | Language::Tsx | Language::JavaScript => js::extract(&source),
        Language::Python => python::extract(&source),
        Language::Go => go::extract(&source),
        Language::Rust => rust_lang::extract(&source),
        Language::Manifest => manifest::extract(&source),
    };
    FileResult::Parsed(outcome, sdk)
}

fn prefilter(language: Language, text: &str) -> bool {
    match language {
        Language::TypeScript | Language::Tsx | Language::JavaScript => js::might_define_tools(text),
        Language::Python => python::might_define_tools(text),
        Language::Go => go::might_define_tools(text),
        Language::Rust => rust_lang::might_define_tools(text),
        Language::Manifest => manifest::might_define_tools(text),
    }
}

/// One definition per tool name within a server: the most confident, then the one in
/// source rather than in compiled output (`dist/`, `build/`, `lib/`), then the first by
/// location. Order of first appearance is kept.
fn dedup(tools: Vec<ToolDef>) -> Vec<ToolDef> {
    let mut order: Vec<String> = Vec::new();
    let mut best: BTreeMap<String, ToolDef> = BTreeMap::new();
    for tool in tools {
        match best.get(&tool.name) {
            None => {
                order.push(tool.name.clone());
                best.insert(tool.name.clone(), tool);
            }
            Some(current) if better(&tool, current) => {
                best.insert(tool.name.clone(), tool);
            }
            Some(_) => {}
        }
    }
    order
        .into_iter()
        .filter_map(|name| best.remove(&name))
        .collect()
}

fn better(candidate: &ToolDef, current: &ToolDef) -> bool {
    let rank = |tool: &ToolDef| {
        let compiled = tool
            .location
            .as_deref()
            .is_some_and(walk::is_compiled_output);
        (
            (tool.confidence * 1000.0).round() as i64,
            !compiled,
            std::cmp::Reverse(tool.location.clone()),
        )
    };
    rank(candidate) > rank(current)
}
