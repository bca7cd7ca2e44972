//! Rust: rmcp's `#[tool(name = "...", description = "...", annotations(...))]` methods
//! (inside `#[tool_router]` impl blocks, or the older `#[tool(tool_box)]` ones). The name
//! defaults to the function's; the description to its doc comment (each `///` line
//! trimmed, blank lines dropped, joined with newlines, as rmcp's macro does). Parameters come from the
//! `Parameters<T>` argument: `T`'s fields, their doc comments as descriptions, serde
//! `rename`/`rename_all`/`default` applied and `Option<_>` not required, with `T` found in
//! the same file or a sibling module file. Older rmcp (`#[tool(tool_box)]`) marked each
//! argument `#[tool(param)]` or `#[tool(aggr)]`; those are read too.

use serde_json::{Map, Value, json};
use tree_sitter::{Node, Tree};

use super::syntax::{self, Field as _, MAX_DEPTH};
use super::{FileOutcome, Language, SourceFile, Unresolved};
use crate::model::{AnnotationSource, ExtractionMethod, ToolDef};

/// Sibling `.rs` files read for a parameter struct, at most.
const MAX_SIBLING_FILES: usize = 64;

/// Cheap literal check run before parsing.
pub fn might_define_tools(text: &str) -> bool {
    text.contains("#[tool") || text.contains("#[rmcp::tool")
}

pub fn extract(file: &SourceFile<'_>) -> FileOutcome {
    // The depth check is made on the walk below, which visits every node anyway.
    let (tree, syntax_error_row) = match syntax::parse_unchecked_depth(Language::Rust, file.text) {
        Ok(parsed) => parsed,
        Err(reason) => {
            return FileOutcome {
                gave_up: Some(reason),
                ..FileOutcome::default()
            };
        }
    };
    let mut outcome = FileOutcome {
        syntax_error_row,
        ..FileOutcome::default()
    };
    let mut structs = Structs {
        file,
        tree: &tree,
        siblings: None,
    };
    let mut stack = vec![(tree.root_node(), 0usize)];
    let mut functions = Vec::new();
    let mut cursor = tree.root_node().walk();
    let mut children = Vec::new();
    while let Some((node, depth)) = stack.pop() {
        if syntax::too_deep_at(node, depth) {
            return FileOutcome {
                gave_up: Some(super::SkipReason::TooDeep),
                ..FileOutcome::default()
            };
        }
        if node.kind() == "function_item"
            && let Some(attribute) = tool_attribute(node, file.text)
        {
            functions.push((node, attribute));
        }
        children.clear();
        syntax::named_children_into(&mut cursor, node, &mut children);
        stack.extend(children.iter().map(|&child| (child, depth + 1)));
    }
    functions.sort_by_key(|(node, _)| node.start_byte());
    for (function, attribute) in functions {
        tool(file, &mut structs, function, attribute, &mut outcome);
    }
    outcome
}

/// The attributes and doc comment lines directly before an item, nearest last.
fn preceding<'t>(item: Node<'t>) -> Vec<Node<'t>> {
    let mut found = Vec::new();
    let mut previous = item.prev_sibling();
    while let Some(node) = previous {
        match node.kind() {
            "attribute_item" | "line_comment" | "block_comment" => found.push(node),
            _ => break,
        }
        previous = node.prev_sibling();
    }
    found.reverse();
    found
}

/// The `#[tool(...)]` / `#[tool]` attribute of a function (not `#[tool(tool_box)]`).
fn tool_attribute<'t>(function: Node<'t>, source: &str) -> Option<Node<'t>> {
    preceding(function).into_iter().find_map(|node| {
        if node.kind() != "attribute_item" {
            return None;
        }
        let attribute = node.named_child(0)?;
        let path = syntax::text(attribute.named_child(0)?, source);
        if path != "tool" && path != "rmcp::tool" {
            return None;
        }
        let arguments = attribute.field("arguments");
        let text = arguments
            .map(|node| syntax::text(node, source))
            .unwrap_or("");
        if text.contains("tool_box") || text.contains("aggr") {
            return None;
        }
        Some(attribute)
    })
}

/// `///` lines (and `#[doc = "..."]`) before an item, each trimmed, joined by newlines.
fn doc_comment(item: Node<'_>, source: &str) -> Option<String> {
    let mut lines = Vec::new();
    for node in preceding(item) {
        let text = syntax::text(node, source);
        if node.kind() == "line_comment"
            && let Some(line) = text.strip_prefix("///")
            && !line.starts_with('/')
        {
            lines.push(line.trim().to_owned());
        } else if node.kind() == "attribute_item"
            && let Some(rest) = text.strip_prefix("#[doc")
            && let Some(start) = rest.find('"')
            && let Some(end) = rest.rfind('"')
            && end > start
        {
            lines.push(unescape(&rest[start + 1..end]).trim().to_owned());
        }
    }
    // rmcp trims each line and drops blank ones before joining.
    lines.retain(|line| !line.is_empty());
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// A token tree's `key = value` pairs and `key(...)` groups, flat: `annotations(a = 1)`
/// becomes `annotations.a`.
fn attribute_pairs<'t>(
    tree: Node<'t>,
    source: &str,
    prefix: &str,
    out: &mut Vec<(String, Node<'t>)>,
    depth: usize,
) {
    if depth > 8 {
        return;
    }
    let mut cursor = tree.walk();
    let children: Vec<Node<'t>> = tree.children(&mut cursor).collect();
    let mut index = 0;
    while index < children.len() {
        let node = children[index];
        if node.kind() == "identifier" {
            let key = format!("{prefix}{}", syntax::text(node, source));
            match children.get(index + 1) {
                Some(next) if syntax::text(*next, source) == "=" => {
                    if let Some(value) = children.get(index + 2) {
                        out.push((key, *value));
                    }
                    index += 3;
                    continue;
                }
                Some(next) if next.kind() == "token_tree" => {
                    attribute_pairs(*next, source, &format!("{key}."), out, depth + 1);
                    index += 2;
                    continue;
                }
                _ => {}
            }
        }
        index += 1;
    }
}

fn string_literal(node: Node<'_>, source: &str) -> Option<String> {
    let text = syntax::text(node, source);
    match node.kind() {
        "string_literal" => Some(unescape(text.strip_prefix('"')?.strip_suffix('"')?)),
        "raw_string_literal" => {
            let body = text.strip_prefix('r')?;
            let hashes = body.chars().take_while(|c| *c == '#').count();
            let body = &body[hashes..];
            let body = body.strip_prefix('"')?;
            let body = body.get(..body.len().checked_sub(1 + hashes)?)?;
            Some(body.to_owned())
        }
        _ => None,
    }
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(character) = chars.next() {
        if character != '\\' {
            out.push(character);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            Some('\'') => out.push('\''),
            Some('0') => out.push('\0'),
            // A line continuation: the newline and the next line's leading spaces go.
            Some('\n') => {
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn tool(
    file: &SourceFile<'_>,
    structs: &mut Structs<'_>,
    function: Node<'_>,
    attribute: Node<'_>,
    outcome: &mut FileOutcome,
) {
    let source = file.text;
    let location = file.location(function.start_position().row);
    let mut pairs = Vec::new();
    if let Some(arguments) = attribute.field("arguments") {
        attribute_pairs(arguments, source, "", &mut pairs, 0);
    }
    let get = |key: &str| {
        pairs
            .iter()
            .find(|(found, _)| found == key)
            .map(|(_, node)| *node)
    };
    let function_name = function
        .field("name")
        .map(|name| syntax::text(name, source).to_owned())
        .unwrap_or_default();
    let name = match get("name") {
        Some(node) => match string_literal(node, source) {
            Some(name) => name,
            None => {
                outcome.unresolved.push(Unresolved {
                    location,
                    method: ExtractionMethod::StaticRust,
                    reason: format!(
                        "tool name is `{}`, not a string literal",
                        syntax::text(node, source)
                    ),
                });
                return;
            }
        },
        None => function_name,
    };
    let mut complete = true;
    let description = match get("description") {
        Some(node) => string_literal(node, source).unwrap_or_else(|| {
            complete = false;
            String::new()
        }),
        None => doc_comment(function, source).unwrap_or_default(),
    };
    let mut tool = ToolDef::new(name, description);
    let mut annotations = Map::new();
    for (key, value) in &pairs {
        let Some(hint) = key.strip_prefix("annotations.") else {
            continue;
        };
        let key = match hint {
            "read_only_hint" => "readOnlyHint",
            "destructive_hint" => "destructiveHint",
            "idempotent_hint" => "idempotentHint",
            "open_world_hint" => "openWorldHint",
            "title" => "title",
            _ => continue,
        };
        let text = syntax::text(*value, source);
        let value = match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => match string_literal(*value, source) {
                Some(text) => Value::String(text),
                None => continue,
            },
        };
        annotations.insert(key.to_owned(), value);
    }
    if !annotations.is_empty() {
        tool.annotations = Some(Value::Object(annotations));
        tool.annotation_source = AnnotationSource::Declared;
    }
    tool.title = get("title").and_then(|node| string_literal(node, source));
    match parameters_type(function, source) {
        Some(type_name) => match structs.schema(&type_name, 0) {
            Some(schema) => tool.input_schema = schema,
            None => complete = false,
        },
        None => match legacy_parameters(function, source, structs) {
            Some(schema) => tool.input_schema = schema,
            None => tool.input_schema = json!({"type": "object", "properties": {}}),
        },
    }
    tool.method = ExtractionMethod::StaticRust;
    tool.location = Some(location);
    tool.confidence = if complete { 0.95 } else { 0.8 };
    outcome.tools.push(tool);
}

/// `T` of the `Parameters<T>` argument (`rmcp::handler::server::wrapper::Parameters<T>`).
fn parameters_type(function: Node<'_>, source: &str) -> Option<String> {
    let parameters = function.field("parameters")?;
    let mut cursor = parameters.walk();
    for parameter in parameters.named_children(&mut cursor) {
        if parameter.kind() != "parameter" {
            continue;
        }
        let Some(kind) = parameter.field("type") else {
            continue;
        };
        if kind.kind() != "generic_type" {
            continue;
        }
        let base = kind
            .field("type")
            .map(|base| syntax::text(base, source))
            .unwrap_or_default();
        if base.rsplit("::").next() != Some("Parameters") {
            continue;
        }
        let argument = kind.field("type_arguments")?.named_child(0)?;
        return Some(syntax::text(argument, source).to_owned());
    }
    None
}

/// rmcp before `Parameters<T>` (the `#[tool(tool_box)]` era): each argument marked
/// `#[tool(param)]` is a property (described by `#[schemars(description = "...")]`), and an
/// argument marked `#[tool(aggr)]` holds the whole input as a struct.
fn legacy_parameters(function: Node<'_>, source: &str, structs: &mut Structs<'_>) -> Option<Value> {
    let parameters = function.field("parameters")?;
    let mut properties = Map::new();
    let mut required = Vec::new();
    let mut attributes: Vec<&str> = Vec::new();
    let mut found = false;
    let mut cursor = parameters.walk();
    for child in parameters.named_children(&mut cursor) {
        match child.kind() {
            "attribute_item" => attributes.push(syntax::text(child, source)),
            // The grammar allows one attribute per parameter; a second one leaves the
            // first inside an ERROR node. rustc accepts several, so read it anyway.
            "ERROR" => {
                let mut inner = child.walk();
                attributes.extend(
                    child
                        .named_children(&mut inner)
                        .filter(|node| node.kind() == "attribute_item")
                        .map(|node| syntax::text(node, source)),
                );
            }
            "parameter" => {
                let marked = |marker: &str| {
                    attributes.iter().any(|text| {
                        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
                        compact.contains(&format!("tool({marker})"))
                    })
                };
                let kind = child
                    .field("type")
                    .map(|kind| syntax::text(kind, source))
                    .unwrap_or_default();
                if marked("aggr") {
                    return structs.schema(kind, 0);
                }
                if marked("param") {
                    found = true;
                    let name = child
                        .field("pattern")
                        .map(|pattern| syntax::text(pattern, source).trim_start_matches("mut "))
                        .unwrap_or_default()
                        .to_owned();
                    let (mut schema, optional) = rust_type_schema(kind);
                    if let Some(description) = attributes
                        .iter()
                        .find(|text| text.contains("schemars"))
                        .and_then(|text| serde_value(text, "description"))
                        && let Value::Object(object) = &mut schema
                    {
                        object.insert("description".into(), Value::String(description));
                    }
                    if !optional {
                        required.push(Value::String(name.clone()));
                    }
                    properties.insert(name, schema);
                }
                attributes.clear();
            }
            _ => attributes.clear(),
        }
    }
    if !found {
        return None;
    }
    let mut schema = Map::new();
    schema.insert("type".into(), json!("object"));
    schema.insert("properties".into(), Value::Object(properties));
    if !required.is_empty() {
        schema.insert("required".into(), Value::Array(required));
    }
    Some(Value::Object(schema))
}

/// Finds parameter structs in the file and, lazily, in sibling module files.
struct Structs<'a> {
    file: &'a SourceFile<'a>,
    tree: &'a Tree,
    siblings: Option<Vec<(String, Tree)>>,
}

impl Structs<'_> {
    fn siblings(&mut self) -> &[(String, Tree)] {
        if self.siblings.is_none() {
            let mut siblings = Vec::new();
            let own = self.file.path.file_name();
            if let Some(folder) = self.file.path.parent()
                && let Ok(entries) = std::fs::read_dir(folder)
            {
                let mut names: Vec<std::ffi::OsString> = entries
                    .filter_map(Result::ok)
                    .map(|entry| entry.file_name())
                    .filter(|name| {
                        name.to_string_lossy().ends_with(".rs") && Some(name.as_os_str()) != own
                    })
                    .collect();
                names.sort();
                for name in names.into_iter().take(MAX_SIBLING_FILES) {
                    if let Some((_, text)) = self.file.read_relative(std::path::Path::new(&name))
                        && let Some(tree) = syntax::parse(Language::Rust, &text)
                        && !syntax::deeper_than(&tree, MAX_DEPTH)
                    {
                        siblings.push((text, tree));
                    }
                }
            }
            self.siblings = Some(siblings);
        }
        self.siblings.as_deref().unwrap_or_default()
    }

    fn schema(&mut self, type_text: &str, depth: usize) -> Option<Value> {
        let name = type_text.rsplit("::").next().unwrap_or(type_text).trim();
        let fields = match find_struct(self.tree.root_node(), self.file.text, name, 0) {
            Some(item) => struct_fields(item, self.file.text),
            None => self.siblings().iter().find_map(|(text, tree)| {
                find_struct(tree.root_node(), text, name, 0).map(|item| struct_fields(item, text))
            })?,
        };
        let mut properties = Map::new();
        let mut required = Vec::new();
        for field in fields {
            let (mut schema, optional) = rust_type_schema(&field.type_text);
            if let Some((nested, list)) = field.nested.as_ref()
                && depth < 8
                && let Some(nested) = self.schema(nested, depth + 1)
            {
                schema = if *list {
                    json!({"type": "array", "items": nested})
                } else {
                    nested
                };
            }
            if let Some(description) = field.description
                && let Value::Object(object) = &mut schema
            {
                object.insert("description".into(), Value::String(description));
            }
            if !optional && !field.has_default {
                required.push(Value::String(field.name.clone()));
            }
            properties.insert(field.name, schema);
        }
        let mut schema = Map::new();
        schema.insert("type".into(), json!("object"));
        schema.insert("properties".into(), Value::Object(properties));
        if !required.is_empty() {
            schema.insert("required".into(), Value::Array(required));
        }
        Some(Value::Object(schema))
    }
}

fn find_struct<'t>(node: Node<'t>, source: &str, name: &str, depth: usize) -> Option<Node<'t>> {
    if depth > 8 {
        return None;
    }
    let mut cursor = node.walk();
    for child in node.named_children(&mut cursor) {
        match child.kind() {
            "struct_item"
                if child
                    .field("name")
                    .is_some_and(|found| syntax::text(found, source) == name) =>
            {
                return Some(child);
            }
            "mod_item" => {
                if let Some(body) = child.field("body")
                    && let Some(found) = find_struct(body, source, name, depth + 1)
                {
                    return Some(found);
                }
            }
            _ => {}
        }
    }
    None
}

/// One struct field after serde's renaming.
#[derive(Debug, Clone, PartialEq)]
pub struct RustField {
    pub name: String,
    pub type_text: String,
    pub description: Option<String>,
    pub has_default: bool,
    /// A named type that may be a struct to inline, and whether it is in a `Vec`.
    pub nested: Option<(String, bool)>,
}

fn struct_fields(item: Node<'_>, source: &str) -> Vec<RustField> {
    let rename_all = preceding(item)
        .into_iter()
        .filter(|node| node.kind() == "attribute_item")
        .find_map(|node| serde_value(syntax::text(node, source), "rename_all"));
    let container_default = preceding(item).into_iter().any(|node| {
        let text = syntax::text(node, source);
        text.contains("serde") && serde_flag(text, "default")
    });
    let mut fields = Vec::new();
    let Some(body) = item.field("body") else {
        return fields;
    };
    if body.kind() != "field_declaration_list" {
        return fields;
    }
    let mut cursor = body.walk();
    for declaration in body.named_children(&mut cursor) {
        if declaration.kind() != "field_declaration" {
            continue;
        }
        let (Some(name), Some(kind)) = (declaration.field("name"), declaration.field("type"))
        else {
            continue;
        };
        let attributes: Vec<&str> = preceding(declaration)
            .into_iter()
            .filter(|node| node.kind() == "attribute_item")
            .map(|node| syntax::text(node, source))
            .collect();
        if attributes.iter().any(|text| {
            text.contains("serde")
                && (serde_flag(text, "skip") || serde_flag(text, "skip_deserializing"))
        }) {
            continue;
        }
        let rust_name = syntax::text(name, source).trim_start_matches("r#");
        let renamed = attributes
            .iter()
            .find_map(|text| serde_value(text, "rename"))
            .unwrap_or_else(|| apply_rename_all(rust_name, rename_all.as_deref()));
        let description = doc_comment(declaration, source).or_else(|| {
            attributes.iter().find_map(|text| {
                text.contains("schemars")
                    .then(|| serde_value(text, "description"))
                    .flatten()
            })
        });
        let type_text = syntax::text(kind, source).to_owned();
        let has_default = container_default
            || attributes
                .iter()
                .any(|text| text.contains("serde") && serde_flag(text, "default"));
        let nested = nested_type(&type_text);
        fields.push(RustField {
            name: renamed,
            type_text,
            description,
            has_default,
            nested,
        });
    }
    fields
}

/// `key = "value"` inside a `#[serde(...)]` (or `#[schemars(...)]`) attribute's text.
fn serde_value(attribute: &str, key: &str) -> Option<String> {
    let mut rest = attribute;
    while let Some(at) = rest.find(key) {
        let before_ok = at == 0
            || !rest[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_');
        let after = rest[at + key.len()..].trim_start();
        if before_ok && let Some(value) = after.strip_prefix('=') {
            let value = value.trim_start().strip_prefix('"')?;
            let end = value.find('"')?;
            return Some(value[..end].to_owned());
        }
        rest = &rest[at + key.len()..];
    }
    None
}

/// Whether a bare flag (`default`, `skip`) appears in a serde attribute.
fn serde_flag(attribute: &str, flag: &str) -> bool {
    let Some(open) = attribute.find('(') else {
        return false;
    };
    attribute[open + 1..]
        .trim_end_matches([']', ')'])
        .split(',')
        .any(|part| {
            let part = part.trim();
            part == flag
                || part.starts_with(&format!("{flag} "))
                || part.starts_with(&format!("{flag}="))
        })
}

/// serde's `rename_all` rules for the common cases.
pub fn apply_rename_all(name: &str, rule: Option<&str>) -> String {
    let words: Vec<&str> = name.split('_').filter(|word| !word.is_empty()).collect();
    let capitalise = |word: &str| {
        let mut chars = word.chars();
        chars
            .next()
            .map(|first| first.to_uppercase().chain(chars).collect::<String>())
            .unwrap_or_default()
    };
    match rule {
        Some("camelCase") => words
            .iter()
            .enumerate()
            .map(|(index, word)| {
                if index == 0 {
                    (*word).to_owned()
                } else {
                    capitalise(word)
                }
            })
            .collect(),
        Some("PascalCase") => words.iter().map(|word| capitalise(word)).collect(),
        Some("kebab-case") => words.join("-"),
        Some("SCREAMING_SNAKE_CASE") => name.to_uppercase(),
        Some("lowercase") => name.to_lowercase(),
        Some("UPPERCASE") => name.to_uppercase(),
        _ => name.to_owned(),
    }
}

/// The JSON Schema of a Rust type, and whether it is optional (`Option<_>`).
pub fn rust_type_schema(type_text: &str) -> (Value, bool) {
    let text: String = type_text.chars().filter(|c| !c.is_whitespace()).collect();
    if let Some(inner) = generic_argument(&text, "Option") {
        return (rust_type_schema(inner).0, true);
    }
    for list in ["Vec", "HashSet", "BTreeSet", "VecDeque"] {
        if let Some(inner) = generic_argument(&text, list) {
            return (
                json!({"type": "array", "items": rust_type_schema(inner).0}),
                false,
            );
        }
    }
    for map in ["HashMap", "BTreeMap", "IndexMap", "Map"] {
        if let Some(inner) = generic_argument(&text, map) {
            let value = inner.split_once(',').map_or(inner, |(_, value)| value);
            return (
                json!({"type": "object", "additionalProperties": rust_type_schema(value).0}),
                false,
            );
        }
    }
    let last = text.rsplit("::").next().unwrap_or(&text);
    let schema = match last.trim_start_matches('&').trim_start_matches("'static") {
        "String" | "str" | "PathBuf" | "Url" | "Uuid" => json!({"type": "string"}),
        "bool" => json!({"type": "boolean"}),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "u8" | "u16" | "u32" | "u64" | "u128"
        | "usize" => json!({"type": "integer"}),
        "f32" | "f64" => json!({"type": "number"}),
        "Value" => json!({}),
        _ => json!({"type": "object"}),
    };
    (schema, false)
}

/// `Inner` of `Outer<Inner>` (also `std::collections::Outer<Inner>`).
fn generic_argument<'t>(text: &'t str, outer: &str) -> Option<&'t str> {
    let open = text.find('<')?;
    let base = &text[..open];
    if base.rsplit("::").next() != Some(outer) {
        return None;
    }
    text[open + 1..].strip_suffix('>')
}

/// A user type a field holds (directly, in an `Option` or a `Vec`), to inline, and
/// whether it is held in a list.
fn nested_type(type_text: &str) -> Option<(String, bool)> {
    let text: String = type_text.chars().filter(|c| !c.is_whitespace()).collect();
    let inner = generic_argument(&text, "Option").unwrap_or(&text);
    let (inner, list) = match generic_argument(inner, "Vec") {
        Some(element) => (element, true),
        None => (inner, false),
    };
    if inner.contains('<') || inner.contains('&') || inner.contains('[') {
        return None;
    }
    let (schema, _) = rust_type_schema(inner);
    (schema == json!({"type": "object"})).then(|| (inner.to_owned(), list))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_types_map_to_json_schema() {
        assert_eq!(
            rust_type_schema("String"),
            (json!({"type": "string"}), false)
        );
        assert_eq!(
            rust_type_schema("Option<u32>"),
            (json!({"type": "integer"}), true)
        );
        assert_eq!(
            rust_type_schema("Vec<String>"),
            (json!({"type": "array", "items": {"type": "string"}}), false)
        );
        assert_eq!(
            rust_type_schema("std::collections::HashMap<String, f64>"),
            (
                json!({"type": "object", "additionalProperties": {"type": "number"}}),
                false
            )
        );
        assert_eq!(rust_type_schema("serde_json::Value"), (json!({}), false));
    }

    #[test]
    fn serde_renames_apply() {
        assert_eq!(
            apply_rename_all("branch_name", Some("camelCase")),
            "branchName"
        );
        assert_eq!(
            apply_rename_all("branch_name", Some("kebab-case")),
            "branch-name"
        );
        assert_eq!(apply_rename_all("branch_name", None), "branch_name");
        assert_eq!(
            serde_value(r#"#[serde(rename = "dryRun", default)]"#, "rename").as_deref(),
            Some("dryRun")
        );
        assert_eq!(
            serde_value(r#"#[serde(rename_all = "camelCase")]"#, "rename"),
            None
        );
        assert!(serde_flag("#[serde(default)]", "default"));
        assert!(!serde_flag("#[serde(default_value = 1)]", "default"));
    }
}
