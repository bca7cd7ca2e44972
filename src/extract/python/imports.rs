//! Where a name a file imports is defined: the module file of the package it comes from
//! (`from .tools import docs`, `from .tools.docs import search`, and absolute imports of
//! the package's own modules, `from pkg.tools import docs`), read inside the extraction
//! root only.

use std::path::{Path, PathBuf};

use tree_sitter::Node;

use super::types::relative_module_paths;
use crate::extract::SourceFile;
use crate::extract::syntax::{self, Field as _};

/// For a handler expression, the module (as spelled in an import) that defines it and the
/// function's name there: `search` imported `from .docs import search` gives
/// `(".docs", "search")`; `docs.search` with `from .tools import docs` gives
/// `(".tools.docs", "search")`.
pub fn handler_module(target: Node<'_>, source: &str) -> Option<(String, String)> {
    let root = root_of(target);
    match target.kind() {
        "identifier" => {
            let name = syntax::text(target, source);
            let (module, original) = imported(root, source, name)?;
            Some((module, original))
        }
        "attribute" => {
            let object = target.field("object")?;
            if object.kind() != "identifier" {
                return None;
            }
            let function = syntax::text(target.field("attribute")?, source).to_owned();
            let (module, original) = imported(root, source, syntax::text(object, source))?;
            let separator = if module.ends_with('.') { "" } else { "." };
            Some((format!("{module}{separator}{original}"), function))
        }
        _ => None,
    }
}

fn root_of(node: Node<'_>) -> Node<'_> {
    let mut node = node;
    while let Some(parent) = node.parent() {
        node = parent;
    }
    node
}

/// A file's top-level `from M import ...` statements, each with its `M`.
pub fn from_imports(root: Node<'_>) -> Vec<(Node<'_>, Node<'_>)> {
    let mut cursor = root.walk();
    root.named_children(&mut cursor)
        .filter(|statement| statement.kind() == "import_from_statement")
        .filter_map(|statement| Some((statement, statement.field("module_name")?)))
        .collect()
}

/// The module and original name of `name` in the file's top-level `from M import a as b`
/// statements.
fn imported(root: Node<'_>, source: &str, name: &str) -> Option<(String, String)> {
    for (statement, module) in from_imports(root) {
        let mut names = statement.walk();
        for imported in statement.children_by_field_name("name", &mut names) {
            let (original, alias) = match imported.kind() {
                "aliased_import" => (
                    imported
                        .field("name")
                        .map(|node| syntax::text(node, source)),
                    imported
                        .field("alias")
                        .map(|node| syntax::text(node, source)),
                ),
                _ => {
                    let text = syntax::text(imported, source);
                    (Some(text), Some(text))
                }
            };
            if alias == Some(name)
                && let Some(original) = original
            {
                return Some((syntax::text(module, source).to_owned(), original.to_owned()));
            }
        }
    }
    None
}

/// Reads the file of `module` (`.tools.docs`, `..shared`, `pkg.tools.docs`) as seen from
/// `file`: its path and text, when it is inside the extraction root.
pub fn read_module(file: &SourceFile<'_>, module: &str) -> Option<(PathBuf, String)> {
    let candidates = if module.starts_with('.') {
        relative_module_paths(module)
    } else {
        // An absolute import of the package's own module: a path from the root, reached
        // from the file's folder.
        let depth = file.rel.matches('/').count();
        let up: PathBuf = std::iter::repeat_n("..", depth).collect();
        relative_module_paths(&format!(".{module}"))
            .into_iter()
            .map(|path| up.join(path))
            .collect()
    };
    candidates
        .iter()
        .find_map(|candidate| file.read_relative(candidate))
}

/// `path` relative to `root`, with `/` separators (the form locations use).
pub fn relative_to_root(root: &Path, path: &Path) -> String {
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    path.strip_prefix(&root)
        .unwrap_or(path)
        .components()
        .map(|part| part.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}
