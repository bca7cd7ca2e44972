//! A tool's description from its function's docstring, the way the SDK that registers
//! it derives one:
//!
//! - the MCP SDK (`mcp.server.fastmcp.FastMCP`, SDK 2.x `MCPServer`) sends `fn.__doc__`
//!   as it is: indentation, blank lines and `Args:` section included;
//! - standalone fastmcp 2.x sends `inspect.getdoc(fn)` ([`clean_doc`]);
//! - fastmcp 3.x and later parse the cleaned docstring with griffe and, when a Google-style
//!   parameters section (`Args:`, `Parameters:`...) lists at least one parameter, send only
//!   the free text before the first section; the parameters' own descriptions move into
//!   the input schema ([`split_google`]).

/// Which of the rules above applies to a file's tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocStyle {
    /// `fn.__doc__` unchanged (MCP SDK).
    Raw,
    /// `fn.__doc__` as CPython 3.13 and later compile it (MCP SDK in a package that
    /// requires Python 3.13): [`compiled_doc`].
    Compiled,
    /// `inspect.getdoc(fn)` (fastmcp 2.x).
    Cleaned,
    /// `inspect.getdoc(fn)`, then the text before a parameters section (fastmcp 3.x+).
    Split,
}

/// The description a tool gets from `doc` (the docstring's decoded value).
pub fn description(doc: &str, style: DocStyle) -> String {
    match style {
        DocStyle::Raw => doc.to_owned(),
        DocStyle::Compiled => compiled_doc(doc),
        DocStyle::Cleaned => clean_doc(doc),
        DocStyle::Split => {
            let cleaned = clean_doc(doc);
            split_google(&cleaned).unwrap_or(cleaned)
        }
    }
}

/// Which SDK a file registers its tools with, by what it imports: the standalone
/// `fastmcp` package, or the MCP SDK. `None` when the file imports neither (its server
/// object comes from another module).
pub fn style_of_imports(text: &str) -> Option<DocStyle> {
    let mut sdk = false;
    for line in text.lines() {
        let line = line.trim_start();
        let Some(module) = line
            .strip_prefix("from ")
            .or_else(|| line.strip_prefix("import "))
            .and_then(|rest| rest.split_whitespace().next())
        else {
            continue;
        };
        // The MCP SDK (`mcp.server.fastmcp` is its FastMCP), or the standalone
        // `fastmcp`, also as a vendored copy (`pkg._vendor.fastmcp.tools`).
        if module == "mcp" || module.starts_with("mcp.") {
            sdk = true;
        } else if module.split('.').any(|part| part == "fastmcp") {
            return Some(DocStyle::Split);
        }
    }
    sdk.then_some(DocStyle::Raw)
}

/// Which SDK a package requires, from the requirement lists at its root: a wheel's
/// `*.dist-info/METADATA`, else `pyproject.toml`. Requiring `fastmcp` means fastmcp's
/// rules, `fastmcp<3` (or `==2...`) those of 2.x; anything else the MCP SDK's.
pub fn style_of_package(root: &std::path::Path) -> DocStyle {
    let texts = requirement_texts(root);
    for text in &texts {
        if let Some(spec) = fastmcp_requirement(text) {
            let spec: String = spec.chars().filter(|c| !c.is_whitespace()).collect();
            let two = spec.contains("<3")
                || spec.contains("==2.")
                || spec.contains("~=2.")
                || spec.contains("<=2.");
            return if two {
                DocStyle::Cleaned
            } else {
                DocStyle::Split
            };
        }
    }
    DocStyle::Raw
}

/// Whether the package at `root` runs only on Python 3.13 or later (its
/// `Requires-Python` / `requires-python` allows no older version), which decides what
/// `__doc__` holds: 3.13 strips docstring indentation when it compiles.
pub fn requires_python_313(root: &std::path::Path) -> bool {
    requirement_texts(root)
        .iter()
        .find_map(|text| requires_python(text))
        .and_then(|spec| spec.parse::<pep440_rs::VersionSpecifiers>().ok())
        .is_some_and(|specifiers| {
            ["3.8.0", "3.9.0", "3.10.0", "3.11.0", "3.12.0", "3.12.99"]
                .iter()
                .filter_map(|version| version.parse::<pep440_rs::Version>().ok())
                .all(|version| !specifiers.contains(&version))
        })
}

/// The `Requires-Python:` of a METADATA file or the `requires-python = "..."` of a
/// pyproject.
fn requires_python(text: &str) -> Option<&str> {
    text.lines().find_map(|line| {
        if let Some(rest) = line.strip_prefix("Requires-Python:") {
            return Some(rest.trim());
        }
        let rest = line.trim_start().strip_prefix("requires-python")?;
        let value = rest.trim_start().strip_prefix('=')?.trim();
        Some(value.trim_matches(['"', '\'']))
    })
}

/// A wheel's `*.dist-info/METADATA` texts at `root`, else its `pyproject.toml`.
fn requirement_texts(root: &std::path::Path) -> Vec<String> {
    let mut texts = Vec::new();
    if let Ok(entries) = std::fs::read_dir(root) {
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            if name.to_string_lossy().ends_with(".dist-info")
                && let Ok(text) = std::fs::read_to_string(entry.path().join("METADATA"))
            {
                texts.push(text);
            }
        }
    }
    if texts.is_empty()
        && let Ok(text) = std::fs::read_to_string(root.join("pyproject.toml"))
    {
        texts.push(text);
    }
    texts
}

/// What CPython 3.13+ stores as a docstring (`_PyCompile_CleanDoc`): tabs expanded, the
/// first line's leading spaces removed, and from every other line up to the smallest
/// indentation of the non-blank ones; blank lines at either end stay.
pub fn compiled_doc(doc: &str) -> String {
    let expanded = doc.replace('\t', "        ");
    let lines: Vec<&str> = expanded.split('\n').collect();
    let indent = |line: &str| line.len() - line.trim_start_matches(' ').len();
    let margin = lines
        .iter()
        .skip(1)
        .filter(|line| !line.trim_start_matches(' ').is_empty())
        .map(|line| indent(line))
        .min()
        .unwrap_or(0);
    lines
        .iter()
        .enumerate()
        .map(|(index, line)| {
            if index == 0 {
                line.trim_start_matches(' ')
            } else {
                &line[indent(line).min(margin)..]
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The version specifier of a `fastmcp` requirement in a METADATA file
/// (`Requires-Dist: fastmcp>=2.3`) or a pyproject (`"fastmcp>=2.3,<3"`): the text after the
/// name up to the end of the requirement. `None` when `fastmcp` is not required
/// (`fastmcp-slim` and other names that start the same are not it).
fn fastmcp_requirement(text: &str) -> Option<&str> {
    let mut from = 0;
    while let Some(found) = text[from..].find("fastmcp") {
        let start = from + found;
        from = start + "fastmcp".len();
        let before = text[..start].trim_end_matches(' ');
        let opens = before.ends_with(['"', '\'']) || before.ends_with("Requires-Dist:");
        let rest = &text[from..];
        if !opens || rest.starts_with(|c: char| c.is_alphanumeric() || c == '-' || c == '_') {
            continue;
        }
        let end = rest.find(['"', '\'', '\n', ';']).unwrap_or(rest.len());
        return Some(&rest[..end]);
    }
    None
}

/// `inspect.cleandoc`: tabs expanded, the first line stripped of leading whitespace, the
/// common indentation of the other lines removed, leading and trailing blank lines dropped.
pub fn clean_doc(doc: &str) -> String {
    let expanded = doc.replace('\t', "        ");
    let lines: Vec<&str> = expanded.split('\n').collect();
    let margin = lines
        .iter()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut cleaned: Vec<&str> = Vec::with_capacity(lines.len());
    for (index, line) in lines.iter().enumerate() {
        if index == 0 {
            cleaned.push(line.trim_start());
        } else {
            cleaned.push(line.get(margin..).unwrap_or(""));
        }
    }
    while cleaned.first().is_some_and(|line| line.trim().is_empty()) {
        cleaned.remove(0);
    }
    while cleaned.last().is_some_and(|line| line.trim().is_empty()) {
        cleaned.pop();
    }
    cleaned.join("\n")
}

/// Google-style section titles griffe knows (lower case); `Args` and its synonyms hold
/// parameters.
const SECTIONS: &[&str] = &[
    "args",
    "arguments",
    "params",
    "parameters",
    "keyword args",
    "keyword arguments",
    "other args",
    "other arguments",
    "other params",
    "other parameters",
    "type args",
    "type arguments",
    "type params",
    "type parameters",
    "raises",
    "exceptions",
    "returns",
    "yields",
    "receives",
    "examples",
    "attributes",
    "functions",
    "methods",
    "classes",
    "type aliases",
    "modules",
    "warns",
    "warnings",
];

const PARAMETER_SECTIONS: &[&str] = &["args", "arguments", "params", "parameters"];

fn is_empty_line(line: &str) -> bool {
    line.chars().all(char::is_whitespace)
}

/// The title of a `Title:` or `Title: rest` line, as griffe's Google parser matches a
/// section or admonition heading: a word character first, then word characters, spaces
/// and hyphens, a colon, and nothing or whitespace after it.
fn heading(line: &str) -> Option<&str> {
    let (title, rest) = line.split_once(':')?;
    let first = title.chars().next()?;
    if !(first.is_alphanumeric() || first == '_') {
        return None;
    }
    if !title
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c.is_whitespace())
    {
        return None;
    }
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return None;
    }
    Some(title)
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// The indented block that starts at `offset` (after blank lines), as griffe reads a
/// section's items: the number of items with a `name: description` first line, and the
/// offset of the block's last line. `None` when the first line is not indented.
fn block_items(lines: &[&str], offset: usize) -> Option<(usize, usize)> {
    let mut at = offset;
    while at < lines.len() && is_empty_line(lines[at]) {
        at += 1;
    }
    let first = lines.get(at)?;
    let indent = indent_of(first);
    if indent == 0 {
        return None;
    }
    let mut items = vec![first[indent..].to_owned()];
    at += 1;
    while at < lines.len() {
        let line = lines[at];
        if is_empty_line(line) || line.starts_with(&" ".repeat(indent + 1)) {
            // blank or continuation
        } else if line.starts_with(&" ".repeat(indent)) {
            items.push(line[indent..].to_owned());
        } else {
            break;
        }
        at += 1;
    }
    let named = items.iter().filter(|item| item.contains(':')).count();
    Some((named, at - 1))
}

/// The indented block of an admonition (`Note:` and its text): the offset of its last
/// line, `None` when nothing indented follows.
fn admonition_block(lines: &[&str], offset: usize) -> Option<usize> {
    let mut at = offset;
    while at < lines.len() && is_empty_line(lines[at]) {
        at += 1;
    }
    let indent = indent_of(lines.get(at)?);
    if indent == 0 {
        return None;
    }
    at += 1;
    let prefix = " ".repeat(indent);
    while at < lines.len() && (lines[at].starts_with(&prefix) || is_empty_line(lines[at])) {
        at += 1;
    }
    Some(at - 1)
}

/// What griffe's Google parser makes of a cleaned docstring, as fastmcp 3.x uses it:
/// `Some(first free-text section)` when a parameters section lists a parameter (an empty
/// description when no text comes first), `None` when it does not (the whole docstring
/// is the description).
pub fn split_google(doc: &str) -> Option<String> {
    let lines: Vec<&str> = doc.split('\n').collect();
    let mut first_text: Option<String> = None;
    let mut parameters = 0usize;
    let mut current: Vec<&str> = Vec::new();
    let flush = |current: &mut Vec<&str>, first_text: &mut Option<String>| {
        if current.iter().any(|line| !line.is_empty()) && first_text.is_none() {
            *first_text = Some(current.join("\n").trim_end_matches('\n').to_owned());
        }
        current.clear();
    };
    let mut in_code = false;
    let mut offset = 0;
    while offset < lines.len() {
        let line = lines[offset];
        let fence = line.trim_start_matches(' ').starts_with("```");
        if in_code {
            in_code = !fence;
            current.push(line);
            offset += 1;
            continue;
        }
        if fence {
            in_code = true;
            current.push(line);
            offset += 1;
            continue;
        }
        let Some(title) = heading(line) else {
            current.push(line);
            offset += 1;
            continue;
        };
        let next = lines.get(offset + 1).copied();
        let after = lines.get(offset + 2).copied();
        let blank_below = next.is_some_and(is_empty_line);
        let indented_below = next.is_some_and(|next| !is_empty_line(next) && next.starts_with(' '));
        let indented_after = offset + 2 < lines.len()
            && after.is_some_and(|after| !is_empty_line(after) && after.starts_with(' '));
        let blank_above = offset == 0 || is_empty_line(lines[offset - 1]);
        if !(indented_below || indented_after) || !blank_above || (indented_after && blank_below) {
            current.push(line);
            offset += 1;
            continue;
        }
        let kind = title.to_lowercase();
        if SECTIONS.contains(&kind.as_str()) {
            flush(&mut current, &mut first_text);
            match block_items(&lines, offset + 1) {
                Some((named, end)) => {
                    if PARAMETER_SECTIONS.contains(&kind.as_str()) {
                        parameters += named;
                    }
                    offset = end;
                }
                None => {
                    // An unindented first line: the section is empty and reading goes on
                    // from the line before it.
                    let mut at = offset + 1;
                    while at < lines.len() && is_empty_line(lines[at]) {
                        at += 1;
                    }
                    offset = at.saturating_sub(1);
                }
            }
        } else {
            match admonition_block(&lines, offset + 1) {
                Some(end) => {
                    flush(&mut current, &mut first_text);
                    offset = end;
                }
                None => {
                    if let Some(line) = lines.get(offset) {
                        current.push(line);
                    }
                }
            }
        }
        offset += 1;
    }
    flush(&mut current, &mut first_text);
    (parameters > 0).then(|| first_text.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docstrings_are_cleaned_like_inspect_cleandoc() {
        assert_eq!(
            clean_doc("Fetch a URL.\n\n    Args:\n        url: where\n    "),
            "Fetch a URL.\n\nArgs:\n    url: where"
        );
        assert_eq!(
            clean_doc("\n    Leading blank.\n    Two.\n"),
            "Leading blank.\nTwo."
        );
        assert_eq!(clean_doc("One line."), "One line.");
    }

    /// What CPython 3.13.0 printed for these two docstrings' `__doc__`.
    #[test]
    fn python_313_compiles_docstrings_dedented() {
        assert_eq!(
            compiled_doc(
                "  First line.\n\n        Indented more.\n    Args:\n        x: thing\n    "
            ),
            "First line.\n\n    Indented more.\nArgs:\n    x: thing\n"
        );
        assert_eq!(
            compiled_doc("\n    Starts on second.\n    "),
            "\nStarts on second.\n"
        );
    }

    #[test]
    fn a_package_that_needs_python_313_is_recognised() {
        let dir = tempfile::tempdir().unwrap();
        let info = dir.path().join("x-1.0.dist-info");
        std::fs::create_dir(&info).unwrap();
        for (spec, expected) in [
            (">=3.13", true),
            (">=3.13,<3.15", true),
            (">=3.10", false),
            ("<3.13", false),
        ] {
            std::fs::write(
                info.join("METADATA"),
                format!("Name: x\nRequires-Python: {spec}\nRequires-Dist: mcp>=1\n"),
            )
            .unwrap();
            assert_eq!(requires_python_313(dir.path()), expected, "{spec}");
        }
        std::fs::remove_dir_all(&info).unwrap();
        std::fs::write(
            dir.path().join("pyproject.toml"),
            "[project]\nrequires-python = \">=3.13\"\n",
        )
        .unwrap();
        assert!(requires_python_313(dir.path()));
    }

    #[test]
    fn the_sdk_keeps_the_docstring_as_written() {
        let doc = "Add two numbers.\n\n    Args:\n        a: first\n    ";
        assert_eq!(description(doc, DocStyle::Raw), doc);
        assert_eq!(
            description(doc, DocStyle::Cleaned),
            "Add two numbers.\n\nArgs:\n    a: first"
        );
        assert_eq!(description(doc, DocStyle::Split), "Add two numbers.");
    }

    #[test]
    fn only_a_parameters_section_with_parameters_splits() {
        // Free text, a section and text after it: only the first text is kept.
        assert_eq!(
            split_google(
                "Look up a user.\nBy id.\n\nArgs:\n    id: the id\n        more\n\nReturns:\n    The user.\n\nTrailing text."
            ),
            Some("Look up a user.\nBy id.".to_owned())
        );
        // No blank line above the heading: griffe does not read it as a section.
        assert_eq!(split_google("Look up.\nArgs:\n    id: the id"), None);
        // A Returns section alone does not split.
        assert_eq!(split_google("Look up.\n\nReturns:\n    a user"), None);
        // An admonition ends the first text.
        assert_eq!(
            split_google("Look up.\n\nNote:\n    careful\n\nArgs:\n    id: x"),
            Some("Look up.".to_owned())
        );
        // A heading inside a code fence is text.
        assert_eq!(split_google("Run.\n\n```\nArgs:\n    x: y\n```"), None);
        assert_eq!(split_google("Args:\n    id: x"), Some(String::new()));
    }

    #[test]
    fn the_package_requirements_tell_the_sdk() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(style_of_package(dir.path()), DocStyle::Raw);
        let info = dir.path().join("x-1.0.dist-info");
        std::fs::create_dir(&info).unwrap();
        std::fs::write(
            info.join("METADATA"),
            "Name: x\nRequires-Dist: fastmcp-slim>=1\nRequires-Dist: fastmcp<3,>=2.3\n",
        )
        .unwrap();
        assert_eq!(style_of_package(dir.path()), DocStyle::Cleaned);
        std::fs::write(info.join("METADATA"), "Requires-Dist: fastmcp>=3.1\n").unwrap();
        assert_eq!(style_of_package(dir.path()), DocStyle::Split);
        let source = tempfile::tempdir().unwrap();
        std::fs::write(
            source.path().join("pyproject.toml"),
            "[project]\ndependencies = [\"httpx\", \"fastmcp[cli]>=2.2, <3\"]\n",
        )
        .unwrap();
        assert_eq!(style_of_package(source.path()), DocStyle::Cleaned);
        assert_eq!(
            style_of_imports("import os\nfrom mcp.server.fastmcp import FastMCP\n"),
            Some(DocStyle::Raw)
        );
        assert_eq!(
            style_of_imports("from fastmcp import FastMCP\n"),
            Some(DocStyle::Split)
        );
        assert_eq!(style_of_imports("from .app import mcp\n"), None);
        assert_eq!(
            style_of_imports("from ha._vendor.fastmcp.tools import tool\n"),
            Some(DocStyle::Split)
        );
    }
}
