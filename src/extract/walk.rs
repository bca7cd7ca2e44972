//! Which files of a tree extraction reads, and which server each belongs to.
//!
//! walkdir does the traversal and detects symbolic-link loops; the policy (what to skip
//! and why, links that leave the tree, server roots) is ours.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Source languages with an extractor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Language {
    TypeScript,
    Tsx,
    JavaScript,
    Python,
    Go,
    Rust,
    /// An MCPB / desktop-extension `manifest.json`.
    Manifest,
}

impl Language {
    /// The language of a file, from its name; `None` for files no extractor reads.
    pub fn of(path: &Path) -> Option<Language> {
        let name = path.file_name()?.to_str()?;
        if name == "manifest.json" {
            return Some(Language::Manifest);
        }
        if name.ends_with(".d.ts") || name.ends_with(".d.mts") || name.ends_with(".d.cts") {
            return None; // declarations register nothing
        }
        let extension = name.rsplit_once('.')?.1;
        Some(match extension {
            "ts" | "mts" | "cts" => Language::TypeScript,
            "tsx" => Language::Tsx,
            "js" | "mjs" | "cjs" | "jsx" => Language::JavaScript,
            "py" => Language::Python,
            "go" => Language::Go,
            "rs" => Language::Rust,
            _ => return None,
        })
    }

    pub fn label(self) -> &'static str {
        match self {
            Language::TypeScript => "typescript",
            Language::Tsx => "tsx",
            Language::JavaScript => "javascript",
            Language::Python => "python",
            Language::Go => "go",
            Language::Rust => "rust",
            Language::Manifest => "manifest",
        }
    }
}

/// Why a file was not read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SkipReason {
    Binary,
    TooLarge {
        bytes: u64,
        /// The limit it is over (`Options::max_file_bytes`).
        limit: u64,
    },
    InvalidUtf8 {
        offset: usize,
    },
    SyntaxError {
        line: usize,
    },
    SymlinkLoop,
    /// A symbolic link whose target is outside the extraction root.
    LinkLeavesTree,
    /// Code nested deeper than the extractors follow.
    TooDeep,
    Unreadable(String),
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::Binary => write!(f, "binary file"),
            SkipReason::TooLarge { bytes, limit } => write!(
                f,
                "{bytes} bytes, over the {} MB limit",
                limit / (1024 * 1024)
            ),
            SkipReason::InvalidUtf8 { offset } => {
                write!(f, "not valid UTF-8 (first bad byte at offset {offset})")
            }
            SkipReason::SyntaxError { line } => {
                write!(f, "syntax error at line {line}, no tools found")
            }
            SkipReason::SymlinkLoop => write!(f, "symbolic link loop"),
            SkipReason::LinkLeavesTree => write!(f, "symbolic link to outside the tree"),
            SkipReason::TooDeep => write!(f, "code nested too deeply to follow"),
            SkipReason::Unreadable(error) => write!(f, "cannot read: {error}"),
        }
    }
}

/// A file passed over, with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub path: String,
    pub reason: SkipReason,
}

#[derive(Debug, Clone)]
pub struct WalkedFile {
    pub path: PathBuf,
    pub rel: String,
    pub bytes: u64,
    pub language: Language,
}

#[derive(Debug, Default)]
pub struct Walked {
    pub files: Vec<WalkedFile>,
    pub skipped: Vec<Skipped>,
}

/// Folders of dependencies and tooling, skipped unless `include_dependencies`.
const DEPENDENCY_DIRS: &[&str] = &[
    "node_modules",
    "bower_components",
    "vendor",
    "_vendor",
    "vendored",
    "_vendored",
    "third_party",
    ".venv",
    "venv",
    "site-packages",
    "target",
    ".git",
    ".hg",
    ".svn",
    "__pycache__",
    ".next",
    ".turbo",
    "coverage",
];

/// Folders of tests and examples, skipped unless `include_tests`.
const TEST_DIRS: &[&str] = &[
    "test",
    "tests",
    "__tests__",
    "__mocks__",
    "spec",
    "e2e",
    "example",
    "examples",
    "fixtures",
    "testdata",
    "benchmark",
    "benchmarks",
];

/// Deeper than this, a tree is generated or hostile.
const MAX_WALK_DEPTH: usize = 40;

/// Lists the source files under `root` that extraction should consider.
pub fn walk(root: &Path, options: &super::Options) -> std::io::Result<Walked> {
    let canonical_root = root.canonicalize()?;
    let mut walked = Walked::default();
    let mut entries = walkdir::WalkDir::new(root)
        .follow_links(true)
        .max_depth(MAX_WALK_DEPTH)
        .sort_by_file_name()
        .into_iter();
    while let Some(entry) = entries.next() {
        let entry = match entry {
            Ok(entry) => entry,
            Err(error) => {
                let path = error
                    .path()
                    .map(|path| relative(root, path))
                    .unwrap_or_default();
                let reason = if error.loop_ancestor().is_some() {
                    SkipReason::SymlinkLoop
                } else {
                    SkipReason::Unreadable(error.to_string())
                };
                walked.skipped.push(Skipped { path, reason });
                continue;
            }
        };
        if entry.depth() == 0 {
            continue;
        }
        let name = entry.file_name().to_string_lossy();
        if entry.file_type().is_dir() {
            let skip = (!options.include_dependencies && DEPENDENCY_DIRS.contains(&&*name))
                || (!options.include_tests && TEST_DIRS.contains(&&*name));
            if skip {
                entries.skip_current_dir();
                continue;
            }
            if entry.path_is_symlink() && !inside(&canonical_root, entry.path()) {
                walked.skipped.push(Skipped {
                    path: relative(root, entry.path()),
                    reason: SkipReason::LinkLeavesTree,
                });
                entries.skip_current_dir();
            }
            continue;
        }
        if !entry.file_type().is_file() {
            continue;
        }
        let Some(language) = Language::of(entry.path()) else {
            continue;
        };
        if !options.include_tests && is_test_file(&name) {
            continue;
        }
        if entry.path_is_symlink() && !inside(&canonical_root, entry.path()) {
            walked.skipped.push(Skipped {
                path: relative(root, entry.path()),
                reason: SkipReason::LinkLeavesTree,
            });
            continue;
        }
        let bytes = entry.metadata().map(|meta| meta.len()).unwrap_or(0);
        walked.files.push(WalkedFile {
            path: entry.path().to_path_buf(),
            rel: relative(root, entry.path()),
            bytes,
            language,
        });
    }
    Ok(walked)
}

fn inside(canonical_root: &Path, path: &Path) -> bool {
    path.canonicalize()
        .is_ok_and(|target| target.starts_with(canonical_root))
}

/// Whether the default walk leaves out a folder (dependencies, tests, examples) or a
/// file (a test) of this name.
pub fn skipped_by_default(name: &str, is_dir: bool) -> bool {
    if is_dir {
        DEPENDENCY_DIRS.contains(&name) || TEST_DIRS.contains(&name)
    } else {
        is_test_file(name)
    }
}

fn is_test_file(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name);
    name.contains(".test.")
        || name.contains(".spec.")
        || (name.ends_with(".py") && (stem.starts_with("test_") || stem.ends_with("_test")))
        || name == "conftest.py"
        || name.ends_with("_test.go")
}

/// `path` relative to `root`, with `/` separators.
pub fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let text = rel
        .components()
        .map(|component| component.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/");
    if text.is_empty() {
        ".".to_owned()
    } else {
        text
    }
}

/// A file is binary when its first 8 KiB hold a NUL byte (what git and grep decide by).
pub fn looks_binary(bytes: &[u8]) -> bool {
    bytes[..bytes.len().min(8192)].contains(&0)
}

/// Whether a `path[:line]` lies in compiled or bundled output rather than source.
pub fn is_compiled_output(location: &str) -> bool {
    let path = location.rsplit_once(':').map_or(location, |(path, _)| path);
    path.split('/').any(|part| {
        matches!(
            part,
            "dist" | "build" | "lib" | "out" | "esm" | "cjs" | "bundle"
        )
    }) || path.ends_with(".js")
        || path.ends_with(".mjs")
        || path.ends_with(".cjs")
}

/// Files that mark a server's (package's) root folder, in the order their name is used.
const MARKERS: &[&str] = &[
    "package.json",
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "go.mod",
    "Cargo.toml",
    "manifest.json",
];

/// Maps files to the server that holds them: the nearest folder (up to the root) with a
/// package manifest, else the root. Cached per folder.
pub struct ServerRoots {
    root: PathBuf,
    cache: HashMap<PathBuf, (String, String)>,
}

impl ServerRoots {
    pub fn new(root: &Path) -> Self {
        ServerRoots {
            root: root.to_path_buf(),
            cache: HashMap::new(),
        }
    }

    /// `(server folder relative to the root, server name)` for a file.
    pub fn server_for(&mut self, file: &Path) -> (String, String) {
        let mut folder = file.parent().map(Path::to_path_buf);
        while let Some(dir) = folder {
            if let Some(found) = self.cache.get(&dir) {
                return found.clone();
            }
            if let Some(name) = manifest_name(&dir) {
                let found = (relative(&self.root, &dir), name);
                self.cache.insert(dir, found.clone());
                return found;
            }
            if dir == self.root || !dir.starts_with(&self.root) {
                break;
            }
            folder = dir.parent().map(Path::to_path_buf);
        }
        let name = self.root.file_name().map_or_else(
            || ".".to_owned(),
            |name| name.to_string_lossy().into_owned(),
        );
        (".".to_owned(), name)
    }
}

/// The package name a folder's manifest declares; the folder name when a manifest exists
/// but names nothing; `None` without a manifest.
fn manifest_name(dir: &Path) -> Option<String> {
    let marker = MARKERS.iter().find(|marker| dir.join(marker).is_file())?;
    let text = std::fs::read_to_string(dir.join(marker)).unwrap_or_default();
    let declared = match *marker {
        "package.json" | "manifest.json" => serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|value| value.get("name")?.as_str().map(str::to_owned)),
        "pyproject.toml" | "Cargo.toml" => {
            toml::from_str::<toml::Table>(&text).ok().and_then(|table| {
                let section = table.get("project").or_else(|| table.get("package"))?;
                section.get("name")?.as_str().map(str::to_owned)
            })
        }
        "go.mod" => text
            .lines()
            .find_map(|line| line.trim().strip_prefix("module "))
            .map(|module| module.trim().to_owned()),
        _ => None,
    };
    Some(declared.unwrap_or_else(|| {
        dir.file_name().map_or_else(
            || ".".to_owned(),
            |name| name.to_string_lossy().into_owned(),
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_come_from_file_names() {
        assert_eq!(
            Language::of(Path::new("a/b.ts")),
            Some(Language::TypeScript)
        );
        assert_eq!(Language::of(Path::new("index.d.ts")), None);
        assert_eq!(Language::of(Path::new("x.cjs")), Some(Language::JavaScript));
        assert_eq!(
            Language::of(Path::new("manifest.json")),
            Some(Language::Manifest)
        );
        assert_eq!(Language::of(Path::new("package.json")), None);
        assert_eq!(Language::of(Path::new("README")), None);
    }

    #[test]
    fn compiled_output_is_recognised() {
        assert!(is_compiled_output("dist/index.js:3"));
        assert!(is_compiled_output("build/server.mjs"));
        assert!(!is_compiled_output("src/index.ts:10"));
        assert!(!is_compiled_output("server.py:4"));
    }

    /// Copies of other projects kept inside a package are not the server's own tools.
    #[test]
    fn vendored_folders_are_skipped_by_default() {
        for name in [
            "vendor",
            "_vendor",
            "vendored",
            "third_party",
            "node_modules",
        ] {
            assert!(skipped_by_default(name, true), "{name}");
        }
        assert!(!skipped_by_default("vendors_api", true));
        assert!(!skipped_by_default("_vendor.py", false));
    }

    #[test]
    fn test_files_are_recognised() {
        assert!(is_test_file("tools.test.ts"));
        assert!(is_test_file("test_server.py"));
        assert!(is_test_file("server_test.go"));
        assert!(!is_test_file("server.py"));
        assert!(!is_test_file("testing_tools.ts"));
    }
}
