//! Whether a file imports an MCP SDK, so that a server whose tools cannot be read is
//! reported as "could not read", never as "has no tools".
//!
//! Some servers build their tools at run time (from an OpenAPI file, from settings) or
//! keep them in a dependency; static extraction then finds no tool name. A package that
//! imports an SDK is a server all the same, and a catalogue that recorded it with zero
//! tools would tell a reviewer it can do nothing. The check is a literal scan of text
//! already read for the prefilter: the SDKs' import paths for each language.

use std::sync::LazyLock;

use aho_corasick::AhoCorasick;
use serde::Serialize;

use super::walk::Language;

/// The first import of an MCP SDK in a file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SdkImport {
    /// 0-based row of the import.
    pub row: usize,
    /// The SDK as users name it: `@modelcontextprotocol/sdk`, `mcp`, `fastmcp`, `mcp-go`...
    pub sdk: &'static str,
}

/// (literal, languages it counts in, SDK name). Python patterns must start a line.
const PATTERNS: &[(&str, Family, &str)] = &[
    (
        "@modelcontextprotocol/sdk",
        Family::Js,
        "@modelcontextprotocol/sdk",
    ),
    (
        "@modelcontextprotocol/server",
        Family::Js,
        "@modelcontextprotocol/server",
    ),
    ("\"fastmcp\"", Family::Js, "fastmcp"),
    ("'fastmcp'", Family::Js, "fastmcp"),
    ("from mcp.", Family::Python, "mcp"),
    ("from mcp import", Family::Python, "mcp"),
    ("import mcp", Family::Python, "mcp"),
    ("from fastmcp", Family::Python, "fastmcp"),
    ("import fastmcp", Family::Python, "fastmcp"),
    (
        "\"github.com/mark3labs/mcp-go",
        Family::Go,
        "mark3labs/mcp-go",
    ),
    (
        "\"github.com/modelcontextprotocol/go-sdk",
        Family::Go,
        "modelcontextprotocol/go-sdk",
    ),
    ("use rmcp", Family::Rust, "rmcp"),
    ("rmcp::", Family::Rust, "rmcp"),
];

/// Whether a package name is one of the MCP SDKs themselves (a library, not a server).
pub fn is_sdk_package(name: &str) -> bool {
    PATTERNS.iter().any(|(_, _, sdk)| *sdk == name)
        || matches!(
            name,
            "@modelcontextprotocol/node" | "@modelcontextprotocol/client" | "mcp-go"
        )
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Family {
    Js,
    Python,
    Go,
    Rust,
}

impl Family {
    fn of(language: Language) -> Option<Family> {
        match language {
            Language::TypeScript | Language::Tsx | Language::JavaScript => Some(Family::Js),
            Language::Python => Some(Family::Python),
            Language::Go => Some(Family::Go),
            Language::Rust => Some(Family::Rust),
            Language::Manifest => None,
        }
    }
}

static MATCHER: LazyLock<Option<AhoCorasick>> =
    LazyLock::new(|| AhoCorasick::new(PATTERNS.iter().map(|(literal, _, _)| literal)).ok());

/// The first SDK import in `text`, read as `language`.
pub fn sdk_import(language: Language, text: &str) -> Option<SdkImport> {
    let family = Family::of(language)?;
    let matcher = MATCHER.as_ref()?;
    let bytes = text.as_bytes();
    for found in matcher.find_iter(text) {
        let (_, pattern_family, sdk) = PATTERNS[found.pattern().as_usize()];
        if pattern_family != family {
            continue;
        }
        if family == Family::Python {
            // `from mcp...` must start its line (after indentation) and end its word.
            let line_start = bytes[..found.start()]
                .iter()
                .rposition(|byte| *byte == b'\n')
                .map_or(0, |newline| newline + 1);
            let indented = bytes[line_start..found.start()]
                .iter()
                .all(|byte| matches!(byte, b' ' | b'\t'));
            let word_ends = bytes
                .get(found.end())
                .is_none_or(|byte| !(byte.is_ascii_alphanumeric() || *byte == b'_'));
            if !indented || !(word_ends || text[..found.end()].ends_with('.')) {
                continue;
            }
        }
        let row = bytes[..found.start()]
            .iter()
            .filter(|byte| **byte == b'\n')
            .count();
        return Some(SdkImport { row, sdk });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_sdk_in_its_own_language_only() {
        let found =
            |language, text| sdk_import(language, text).map(|import| (import.row, import.sdk));
        assert_eq!(
            found(
                Language::TypeScript,
                "// x\nimport { McpServer } from \"@modelcontextprotocol/sdk/server/mcp.js\";\n"
            ),
            Some((1, "@modelcontextprotocol/sdk"))
        );
        assert_eq!(
            found(
                Language::JavaScript,
                "const { FastMCP } = require('fastmcp');"
            ),
            Some((0, "fastmcp"))
        );
        assert_eq!(
            found(
                Language::Python,
                "import os\nfrom mcp.server.fastmcp import FastMCP\n"
            ),
            Some((1, "mcp"))
        );
        assert_eq!(
            found(Language::Python, "import mcpx\nfrom mcpserver import a\n"),
            None
        );
        assert_eq!(
            found(Language::Python, "x = 'from mcp.server import y'\n"),
            None,
            "not at the start of a line"
        );
        assert_eq!(
            found(
                Language::Go,
                "import (\n\t\"github.com/mark3labs/mcp-go/mcp\"\n)"
            ),
            Some((1, "mark3labs/mcp-go"))
        );
        assert_eq!(
            found(Language::Rust, "use rmcp::{tool, tool_router};"),
            Some((0, "rmcp"))
        );
        assert_eq!(
            found(
                Language::Python,
                "import { x } from \"@modelcontextprotocol/sdk\""
            ),
            None
        );
        assert_eq!(found(Language::Manifest, "{\"rmcp::\": 1}"), None);
    }
}
