//! Go: mark3labs/mcp-go (`mcp.NewTool("name", mcp.WithDescription(...), mcp.WithString(...,
//! mcp.Required(), ...), mcp.With*HintAnnotation(...))`) and the official go-sdk
//! (`mcp.AddTool(server, &mcp.Tool{Name: ..., Description: ...}, handler)`, the input schema
//! read from the handler's input struct: `json` tags name the properties, `omitempty`
//! makes one optional, `jsonschema` tags describe it).
//!
//! Receivers and package aliases are not trusted: the function or type name is matched
//! (`NewTool`, `Tool{...}`), whatever the import is called.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use tree_sitter::{Node, Tree};

use super::syntax::{self, Field as _, MAX_DEPTH};
use super::{FileOutcome, Language, SourceFile, Unresolved};
use crate::model::{AnnotationSource, ExtractionMethod, ToolDef};

/// Files of the same package folder read for handler input structs, at most.
const MAX_PACKAGE_FILES: usize = 64;

/// Cheap literal check run before parsing.
pub fn might_define_tools(text: &str) -> bool {
    text.contains("NewTool(") || text.contains("Tool{")
}

pub fn extract(file: &SourceFile<'_>) -> FileOutcome {
    // The depth check is made on the walk below, which visits every node anyway.
    let (tree, syntax_error_row) = match syntax::parse_unchecked_depth(Language::Go, file.text) {
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
    let mut package = Package::new(file, &tree);
    let mut stack = vec![(tree.root_node(), 0usize)];
    let mut found: Vec<(Node<'_>, Option<Node<'_>>)> = Vec::new();
    // `mcp.AddTool(server, toolVar, handler)`: the handler of a tool held in a variable.
    let mut handlers_by_variable: HashMap<&str, Node<'_>> = HashMap::new();
    let mut cursor = tree.root_node().walk();
    let mut children: Vec<Node<'_>> = Vec::new();
    while let Some((node, depth)) = stack.pop() {
        if syntax::too_deep_at(node, depth) {
            return FileOutcome {
                gave_up: Some(super::SkipReason::TooDeep),
                ..FileOutcome::default()
            };
        }
        match node.kind() {
            "call_expression" => {
                let callee = node
                    .field("function")
                    .map_or("", |function| callee_name(function, file.text));
                if callee == "NewTool" {
                    found.push((node, None));
                } else if callee == "AddTool" {
                    let arguments = arguments_of(node);
                    for pair in arguments.windows(2) {
                        if pair[0].kind() == "identifier" {
                            handlers_by_variable.insert(syntax::text(pair[0], file.text), pair[1]);
                        }
                    }
                }
            }
            "composite_literal"
                if node
                    .field("type")
                    .is_some_and(|kind| type_base(kind, file.text) == "Tool") =>
            {
                found.push((node, handler_of(node)));
            }
            _ => {}
        }
        children.clear();
        syntax::named_children_into(&mut cursor, node, &mut children);
        for &child in children.iter().rev() {
            stack.push((child, depth + 1));
        }
    }
    found.sort_by_key(|(node, _)| node.start_byte());
    for (node, handler) in &mut found {
        if node.kind() == "composite_literal"
            && handler.is_none()
            && let Some(variable) = assigned_variable(*node, file.text)
        {
            *handler = handlers_by_variable.get(variable).copied();
        }
    }
    for (node, handler) in found {
        if node.kind() == "call_expression" {
            mark3labs_tool(file, &package, node, &mut outcome);
        } else {
            sdk_tool(file, &mut package, node, handler, &mut outcome);
        }
    }
    outcome
}

/// The last identifier of a callee: `NewTool` for `mcp.NewTool`, `m.NewTool`, `NewTool`.
fn callee_name<'s>(function: Node<'_>, source: &'s str) -> &'s str {
    match function.kind() {
        "selector_expression" => function
            .field("field")
            .map(|field| syntax::text(field, source))
            .unwrap_or_default(),
        "identifier" => syntax::text(function, source),
        _ => "",
    }
}

/// `Tool` for `mcp.Tool`, `Tool`, `*mcp.Tool`.
fn type_base<'s>(kind: Node<'_>, source: &'s str) -> &'s str {
    let text = syntax::text(kind, source);
    text.rsplit('.')
        .next()
        .unwrap_or(text)
        .trim_start_matches('*')
}

/// The handler passed after `&mcp.Tool{...}` in `mcp.AddTool(server, &tool, handler)` or
/// `server.AddTool(&tool, handler)`.
fn handler_of(literal: Node<'_>) -> Option<Node<'_>> {
    let mut argument = literal;
    if argument
        .parent()
        .is_some_and(|parent| parent.kind() == "unary_expression")
    {
        argument = argument.parent()?;
    }
    let list = argument.parent()?;
    if list.kind() != "argument_list" {
        return None;
    }
    let mut next = argument.next_named_sibling();
    while let Some(node) = next {
        if node.kind() != "comment" {
            return Some(node);
        }
        next = node.next_named_sibling();
    }
    None
}

/// `In` of `mcp.AddTool[In, Out](server, &mcp.Tool{...}, handler)`, when the tool literal
/// is an argument of such a call.
fn generic_input(literal: Node<'_>, source: &str) -> Option<String> {
    let mut node = literal.parent()?;
    if node.kind() == "unary_expression" {
        node = node.parent()?;
    }
    let call = node.parent().filter(|_| node.kind() == "argument_list")?;
    let arguments = call.field("type_arguments")?;
    Some(syntax::text(arguments.named_child(0)?, source).to_owned())
}

/// A Go string literal's value: interpreted ("..." with escapes) or raw (`...`), and
/// `+` concatenations of those and of constants.
fn string_value(
    node: Node<'_>,
    source: &str,
    package: &Package<'_>,
    depth: usize,
) -> Option<String> {
    if depth > 16 {
        return None;
    }
    match node.kind() {
        "interpreted_string_literal" => {
            let text = syntax::text(node, source);
            let inner = text.strip_prefix('"')?.strip_suffix('"')?;
            Some(unescape(inner))
        }
        "raw_string_literal" => {
            let text = syntax::text(node, source);
            Some(text.strip_prefix('`')?.strip_suffix('`')?.replace('\r', ""))
        }
        "binary_expression" => {
            let operator = node.field("operator")?;
            if syntax::text(operator, source) != "+" {
                return None;
            }
            let left = string_value(node.field("left")?, source, package, depth + 1)?;
            let right = string_value(node.field("right")?, source, package, depth + 1)?;
            Some(left + &right)
        }
        "parenthesized_expression" => {
            string_value(node.named_child(0)?, source, package, depth + 1)
        }
        "identifier" => package.constants.get(syntax::text(node, source)).cloned(),
        _ => None,
    }
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
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
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn arguments_of(call: Node<'_>) -> Vec<Node<'_>> {
    call.field("arguments")
        .map(|arguments| {
            let mut cursor = arguments.walk();
            arguments
                .named_children(&mut cursor)
                .filter(|node| node.kind() != "comment")
                .collect()
        })
        .unwrap_or_default()
}

/// The variable a `&mcp.Tool{...}` is assigned to (`var t = ...`, `t := ...`).
fn assigned_variable<'s>(literal: Node<'_>, source: &'s str) -> Option<&'s str> {
    let mut node = literal.parent()?;
    if node.kind() == "unary_expression" {
        node = node.parent()?;
    }
    if node.kind() != "expression_list" {
        return None;
    }
    let declaration = node.parent()?;
    let names = match declaration.kind() {
        "var_spec" => declaration.field("name")?,
        "short_var_declaration" | "assignment_statement" => {
            declaration.field("left")?.named_child(0)?
        }
        _ => return None,
    };
    Some(syntax::text(names, source))
}

/// A description given through a translation helper, `t("KEY", "default text")`: the
/// default is what the server reports unless its operator overrides it.
fn translated_default(node: Node<'_>, source: &str, package: &Package<'_>) -> Option<String> {
    if node.kind() != "call_expression" {
        return None;
    }
    let arguments = arguments_of(node);
    if arguments.len() < 2 {
        return None;
    }
    string_value(*arguments.last()?, source, package, 0)
}

/// `mcp.NewTool("name", options...)`.
fn mark3labs_tool(
    file: &SourceFile<'_>,
    package: &Package<'_>,
    call: Node<'_>,
    outcome: &mut FileOutcome,
) {
    let source = file.text;
    let arguments = arguments_of(call);
    let location = file.location(call.start_position().row);
    let Some(name) = arguments
        .first()
        .and_then(|first| string_value(*first, source, package, 0))
    else {
        outcome.unresolved.push(Unresolved {
            location,
            method: ExtractionMethod::StaticGo,
            reason: format!(
                "tool name is `{}`, known only at run time",
                arguments
                    .first()
                    .map_or("", |first| syntax::text(*first, source))
            ),
        });
        return;
    };
    let mut tool = ToolDef::new(name, "");
    let mut properties = Map::new();
    let mut required = Vec::new();
    let mut annotations = Map::new();
    let mut complete = true;
    for option in arguments.iter().skip(1) {
        if option.kind() != "call_expression" {
            complete = false;
            continue;
        }
        let Some(function) = option.field("function") else {
            continue;
        };
        let values = arguments_of(*option);
        let first_string = || {
            values
                .first()
                .and_then(|value| string_value(*value, source, package, 0))
        };
        let first_bool = || {
            values
                .first()
                .map(|value| syntax::text(*value, source))
                .and_then(|text| text.parse::<bool>().ok())
        };
        match callee_name(function, source) {
            "WithDescription" => match first_string() {
                Some(description) => tool.description = description,
                None => match values
                    .first()
                    .and_then(|value| translated_default(*value, source, package))
                {
                    Some(description) => tool.description = description,
                    None => complete = false,
                },
            },
            "WithToolAnnotation" => {
                let mut literal = values.first().copied();
                if let Some(node) = literal
                    && node.kind() == "unary_expression"
                {
                    literal = node.field("operand");
                }
                if let Some(literal) = literal {
                    annotations.extend(annotation_fields(literal, source, package));
                }
            }
            "WithTitleAnnotation" => {
                if let Some(title) = first_string() {
                    annotations.insert("title".into(), Value::String(title));
                }
            }
            hint @ ("WithReadOnlyHintAnnotation"
            | "WithDestructiveHintAnnotation"
            | "WithIdempotentHintAnnotation"
            | "WithOpenWorldHintAnnotation") => {
                let key = match hint {
                    "WithReadOnlyHintAnnotation" => "readOnlyHint",
                    "WithDestructiveHintAnnotation" => "destructiveHint",
                    "WithIdempotentHintAnnotation" => "idempotentHint",
                    _ => "openWorldHint",
                };
                if let Some(value) = first_bool() {
                    annotations.insert(key.into(), Value::Bool(value));
                }
            }
            kind @ ("WithString" | "WithNumber" | "WithInteger" | "WithBoolean" | "WithArray"
            | "WithObject" | "WithAny") => {
                let Some(property) = first_string() else {
                    complete = false;
                    continue;
                };
                let (schema, is_required) = property_options(kind, &values[1..], source, package);
                if is_required {
                    required.push(Value::String(property.clone()));
                }
                properties.insert(property, schema);
            }
            _ => {}
        }
    }
    let mut schema = Map::new();
    schema.insert("type".into(), json!("object"));
    schema.insert("properties".into(), Value::Object(properties));
    if !required.is_empty() {
        schema.insert("required".into(), Value::Array(required));
    }
    tool.input_schema = Value::Object(schema);
    if !annotations.is_empty() {
        tool.annotations = Some(Value::Object(annotations));
        tool.annotation_source = AnnotationSource::Declared;
    }
    tool.method = ExtractionMethod::StaticGo;
    tool.location = Some(location);
    tool.confidence = if complete { 0.95 } else { 0.8 };
    outcome.tools.push(tool);
}

/// The schema of one `mcp.WithString("q", mcp.Required(), mcp.Description(...), ...)`.
fn property_options(
    kind: &str,
    options: &[Node<'_>],
    source: &str,
    package: &Package<'_>,
) -> (Value, bool) {
    let mut schema = Map::new();
    let json_type = match kind {
        "WithString" => Some("string"),
        "WithNumber" => Some("number"),
        "WithInteger" => Some("integer"),
        "WithBoolean" => Some("boolean"),
        "WithArray" => Some("array"),
        "WithObject" => Some("object"),
        _ => None,
    };
    if let Some(json_type) = json_type {
        schema.insert("type".into(), json!(json_type));
    }
    let mut required = false;
    for option in options {
        if option.kind() != "call_expression" {
            continue;
        }
        let Some(function) = option.field("function") else {
            continue;
        };
        let values = arguments_of(*option);
        match callee_name(function, source) {
            "Required" => required = true,
            "Description" => {
                if let Some(text) = values
                    .first()
                    .and_then(|value| string_value(*value, source, package, 0))
                {
                    schema.insert("description".into(), Value::String(text));
                }
            }
            "Enum" => {
                let members: Vec<Value> = values
                    .iter()
                    .filter_map(|value| string_value(*value, source, package, 0))
                    .map(Value::String)
                    .collect();
                schema.insert("enum".into(), Value::Array(members));
            }
            "DefaultString" => {
                if let Some(text) = values
                    .first()
                    .and_then(|value| string_value(*value, source, package, 0))
                {
                    schema.insert("default".into(), Value::String(text));
                }
            }
            "DefaultNumber" | "DefaultBool" => {
                if let Some(value) = values.first().and_then(|value| {
                    serde_json::from_str::<Value>(syntax::text(*value, source)).ok()
                }) {
                    schema.insert("default".into(), value);
                }
            }
            "Min" | "Minimum" => number_option(&mut schema, "minimum", &values, source),
            "Max" | "Maximum" => number_option(&mut schema, "maximum", &values, source),
            "MinLength" => number_option(&mut schema, "minLength", &values, source),
            "MaxLength" => number_option(&mut schema, "maxLength", &values, source),
            _ => {}
        }
    }
    (Value::Object(schema), required)
}

fn number_option(schema: &mut Map<String, Value>, key: &str, values: &[Node<'_>], source: &str) {
    if let Some(value) = values
        .first()
        .and_then(|value| serde_json::from_str::<Value>(syntax::text(*value, source)).ok())
        .filter(Value::is_number)
    {
        schema.insert(key.into(), value);
    }
}

/// go-sdk: `&mcp.Tool{Name: ..., Description: ..., Annotations: &mcp.ToolAnnotations{...}}`
/// and the handler that follows it.
fn sdk_tool(
    file: &SourceFile<'_>,
    package: &mut Package<'_>,
    literal: Node<'_>,
    handler: Option<Node<'_>>,
    outcome: &mut FileOutcome,
) {
    let source = file.text;
    let location = file.location(literal.start_position().row);
    let fields = keyed_elements(literal, source);
    let Some(name_node) = field(&fields, "Name") else {
        return; // a Tool literal without a name is not a definition (e.g. a zero value)
    };
    let Some(name) = string_value(name_node, source, package, 0) else {
        outcome.unresolved.push(Unresolved {
            location,
            method: ExtractionMethod::StaticGo,
            reason: format!(
                "tool name is `{}`, known only at run time",
                syntax::text(name_node, source)
            ),
        });
        return;
    };
    let description = field(&fields, "Description")
        .and_then(|value| string_value(value, source, package, 0))
        .unwrap_or_default();
    let mut tool = ToolDef::new(name, description);
    tool.title = field(&fields, "Title").and_then(|value| string_value(value, source, package, 0));
    if let Some(annotations) = field(&fields, "Annotations") {
        let mut inner = annotations;
        if inner.kind() == "unary_expression"
            && let Some(operand) = inner.field("operand")
        {
            inner = operand;
        }
        let object = annotation_fields(inner, source, package);
        if !object.is_empty() {
            tool.annotations = Some(Value::Object(object));
            tool.annotation_source = AnnotationSource::Declared;
        }
    }
    let schema = handler
        .and_then(|handler| package.handler_input_schema(handler))
        .or_else(|| {
            let input = generic_input(literal, source)?;
            package.struct_schema(&input, 0)
        });
    tool.confidence = if schema.is_some() || field(&fields, "InputSchema").is_some() {
        0.95
    } else {
        0.75
    };
    if let Some(schema) = schema {
        tool.input_schema = schema;
    }
    tool.method = ExtractionMethod::StaticGo;
    tool.location = Some(location);
    outcome.tools.push(tool);
}

/// `mcp.ToolAnnotations{ReadOnlyHint: true, DestructiveHint: ptr(true), Title: "..."}` as
/// MCP annotation keys.
fn annotation_fields(literal: Node<'_>, source: &str, package: &Package<'_>) -> Map<String, Value> {
    let mut object = Map::new();
    for (key, value) in keyed_elements(literal, source) {
        let key = match key.as_str() {
            "ReadOnlyHint" => "readOnlyHint",
            "DestructiveHint" => "destructiveHint",
            "IdempotentHint" => "idempotentHint",
            "OpenWorldHint" => "openWorldHint",
            "Title" => "title",
            _ => continue,
        };
        let text = syntax::text(value, source);
        // `DestructiveHint: jsonschema.Ptr(true)`, `ToBoolPtr(false)`: read the literal.
        let value = if let Some(text) = string_value(value, source, package, 0) {
            Value::String(text)
        } else if text.contains("true") {
            Value::Bool(true)
        } else if text.contains("false") {
            Value::Bool(false)
        } else {
            continue;
        };
        object.insert(key.into(), value);
    }
    object
}

fn field<'t>(fields: &[(String, Node<'t>)], key: &str) -> Option<Node<'t>> {
    fields
        .iter()
        .find(|(found, _)| found == key)
        .map(|(_, node)| *node)
}

/// `Key: value` pairs of a composite literal, in source order.
fn keyed_elements<'t>(literal: Node<'t>, source: &str) -> Vec<(String, Node<'t>)> {
    let mut fields = Vec::new();
    let Some(body) = literal.field("body") else {
        return fields;
    };
    let mut cursor = body.walk();
    for element in body.named_children(&mut cursor) {
        if element.kind() != "keyed_element" {
            continue;
        }
        let (Some(key), Some(value)) = (element.named_child(0), element.named_child(1)) else {
            continue;
        };
        let value = if value.kind() == "literal_element" {
            value.named_child(0).unwrap_or(value)
        } else {
            value
        };
        fields.push((syntax::text(key, source).trim().to_owned(), value));
    }
    fields
}

/// The package around a file: its string constants, and (read lazily) the structs and
/// functions of every `.go` file in the same folder.
struct Package<'a> {
    file: &'a SourceFile<'a>,
    tree: &'a Tree,
    constants: HashMap<String, String>,
    /// Sibling files, parsed on first need.
    siblings: Option<Vec<(String, Tree)>>,
}

impl<'a> Package<'a> {
    fn new(file: &'a SourceFile<'a>, tree: &'a Tree) -> Self {
        let mut package = Package {
            file,
            tree,
            constants: HashMap::new(),
            siblings: None,
        };
        let mut constants = HashMap::new();
        collect_constants(tree.root_node(), file.text, &package, &mut constants);
        package.constants = constants;
        package
    }

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
                        let text = name.to_string_lossy();
                        text.ends_with(".go")
                            && !text.ends_with("_test.go")
                            && Some(name.as_os_str()) != own
                    })
                    .collect();
                names.sort();
                for name in names.into_iter().take(MAX_PACKAGE_FILES) {
                    if let Some((_, text)) = self.file.read_relative(std::path::Path::new(&name))
                        && let Some(tree) = syntax::parse(Language::Go, &text)
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

    /// The input schema of a go-sdk handler: a function name, a method value
    /// (`s.handleSearch`) or a function literal; its third parameter is the input.
    fn handler_input_schema(&mut self, handler: Node<'_>) -> Option<Value> {
        let source = self.file.text;
        if handler.kind() == "func_literal" {
            let input = input_type(handler, source)?.to_owned();
            return self.struct_schema(&input, 0);
        }
        let name = match handler.kind() {
            "identifier" => syntax::text(handler, source).to_owned(),
            "selector_expression" => syntax::text(handler.field("field")?, source).to_owned(),
            _ => return None,
        };
        let found = find_function(self.tree.root_node(), source, &name)
            .and_then(|function| input_type(function, source))
            .map(str::to_owned);
        let input = match found {
            Some(found) => found,
            None => self.siblings().iter().find_map(|(text, tree)| {
                let function = find_function(tree.root_node(), text, &name)?;
                input_type(function, text).map(str::to_owned)
            })?,
        };
        self.struct_schema(&input, 0)
    }

    /// The object schema of the struct named by `type_text` (`SearchArgs`, `*SearchArgs`).
    fn struct_schema(&mut self, type_text: &str, depth: usize) -> Option<Value> {
        let name = type_text.trim_start_matches('*');
        let name = name.rsplit('.').next().unwrap_or(name);
        let fields = match find_struct(self.tree.root_node(), self.file.text, name) {
            Some(fields) => struct_fields(fields, self.file.text),
            None => self.siblings().iter().find_map(|(text, tree)| {
                find_struct(tree.root_node(), text, name).map(|fields| struct_fields(fields, text))
            })?,
        };
        let mut properties = Map::new();
        let mut required = Vec::new();
        for field in fields {
            let mut schema = go_type_schema(&field.type_text);
            if let Some(nested) = field.struct_name.as_deref()
                && depth < 8
                && let Some(nested) = self.struct_schema(nested, depth + 1)
            {
                schema = wrap_like(&field.type_text, nested);
            }
            if let Some(description) = field.description
                && let Value::Object(object) = &mut schema
            {
                object.insert("description".into(), Value::String(description));
            }
            if field.required {
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

fn collect_constants(
    root: Node<'_>,
    source: &str,
    package: &Package<'_>,
    out: &mut HashMap<String, String>,
) {
    let mut cursor = root.walk();
    for declaration in root.named_children(&mut cursor) {
        if declaration.kind() != "const_declaration" && declaration.kind() != "var_declaration" {
            continue;
        }
        let mut specs = declaration.walk();
        for spec in declaration.named_children(&mut specs) {
            let (Some(name), Some(values)) = (spec.field("name"), spec.field("value")) else {
                continue;
            };
            if let Some(value) = values
                .named_child(0)
                .and_then(|value| string_value(value, source, package, 0))
            {
                out.insert(syntax::text(name, source).to_owned(), value);
            }
        }
    }
}

/// A top-level function or method named `name`.
fn find_function<'t>(root: Node<'t>, source: &str, name: &str) -> Option<Node<'t>> {
    let mut cursor = root.walk();
    root.named_children(&mut cursor).find(|node| {
        matches!(node.kind(), "function_declaration" | "method_declaration")
            && node
                .field("name")
                .is_some_and(|found| syntax::text(found, source) == name)
    })
}

/// The input parameter's type of a go-sdk handler `func(ctx, req, input In) (...)`: the
/// third parameter's type, as written.
fn input_type<'s>(function: Node<'_>, source: &'s str) -> Option<&'s str> {
    let parameters = function.field("parameters")?;
    let mut cursor = parameters.walk();
    let mut types: Vec<Node<'_>> = Vec::new();
    for declaration in parameters.named_children(&mut cursor) {
        if declaration.kind() != "parameter_declaration" {
            continue;
        }
        let Some(kind) = declaration.field("type") else {
            continue;
        };
        // `a, b T` declares two parameters of one type.
        let mut names = declaration.walk();
        let count = declaration
            .children_by_field_name("name", &mut names)
            .count()
            .max(1);
        for _ in 0..count {
            types.push(kind);
        }
    }
    let input = types.get(2)?;
    Some(syntax::text(*input, source))
}

fn find_struct<'t>(root: Node<'t>, source: &str, name: &str) -> Option<Node<'t>> {
    let mut cursor = root.walk();
    for declaration in root.named_children(&mut cursor) {
        if declaration.kind() != "type_declaration" {
            continue;
        }
        let mut specs = declaration.walk();
        for spec in declaration.named_children(&mut specs) {
            if spec.kind() == "type_spec"
                && spec
                    .field("name")
                    .is_some_and(|found| syntax::text(found, source) == name)
                && let Some(kind) = spec.field("type")
                && kind.kind() == "struct_type"
            {
                return Some(kind);
            }
        }
    }
    None
}

/// One struct field as the schema sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct GoField {
    pub name: String,
    pub type_text: String,
    /// The struct type the field holds (directly, by pointer or as slice elements), when
    /// it is a plain identifier that may name a struct of the package.
    pub struct_name: Option<String>,
    pub required: bool,
    pub description: Option<String>,
}

fn struct_fields(struct_type: Node<'_>, source: &str) -> Vec<GoField> {
    let mut fields = Vec::new();
    let Some(list) = struct_type.named_child(0) else {
        return fields;
    };
    let mut cursor = list.walk();
    for declaration in list.named_children(&mut cursor) {
        if declaration.kind() != "field_declaration" {
            continue;
        }
        let Some(kind) = declaration.field("type") else {
            continue;
        };
        let tag = declaration
            .field("tag")
            .map(|tag| struct_tag(syntax::text(tag, source)))
            .unwrap_or_default();
        let type_text = syntax::text(kind, source).to_owned();
        let mut names = declaration.walk();
        let declared: Vec<String> = declaration
            .children_by_field_name("name", &mut names)
            .map(|name| syntax::text(name, source).to_owned())
            .collect();
        for go_name in declared {
            if let Some(field) = field_from_tag(&go_name, &type_text, &tag) {
                fields.push(field);
            }
        }
    }
    fields
}

/// Applies `encoding/json` and go-sdk `jsonschema` tag rules to one field: unexported and
/// `json:"-"` fields are dropped; `omitempty`/`omitzero` make a field optional.
pub fn field_from_tag(go_name: &str, type_text: &str, tag: &str) -> Option<GoField> {
    if !go_name.chars().next().is_some_and(char::is_uppercase) {
        return None;
    }
    let json_tag = tag_value(tag, "json");
    let mut parts = json_tag.as_deref().unwrap_or("").split(',');
    let json_name = parts.next().unwrap_or("");
    if json_name == "-" && json_tag.as_deref() == Some("-") {
        return None;
    }
    let optional = parts.any(|option| option == "omitempty" || option == "omitzero");
    let name = if json_name.is_empty() {
        go_name.to_owned()
    } else {
        json_name.to_owned()
    };
    let description = tag_value(tag, "jsonschema").map(|value| {
        // Older go-sdk versions spelled it `jsonschema:"description=..."`.
        value
            .strip_prefix("description=")
            .unwrap_or(&value)
            .to_owned()
    });
    let element = type_text.trim_start_matches("[]").trim_start_matches('*');
    let struct_name = element
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_')
        .then(|| element.to_owned())
        .filter(|name| !is_builtin(name));
    Some(GoField {
        name,
        type_text: type_text.to_owned(),
        struct_name,
        required: !optional,
        description,
    })
}

/// A struct tag's content: a raw string's text, or an interpreted string's value.
fn struct_tag(text: &str) -> String {
    if let Some(raw) = text
        .strip_prefix('`')
        .and_then(|rest| rest.strip_suffix('`'))
    {
        return raw.to_owned();
    }
    text.strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .map(unescape)
        .unwrap_or_default()
}

/// The value of `key:"..."` in a struct tag.
fn tag_value(tag: &str, key: &str) -> Option<String> {
    let mut rest = tag;
    while let Some(colon) = rest.find(":\"") {
        let found = rest[..colon].trim();
        let after = &rest[colon + 2..];
        let mut end = None;
        let mut escaped = false;
        for (index, character) in after.char_indices() {
            match character {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    end = Some(index);
                    break;
                }
                _ => escaped = false,
            }
        }
        let end = end?;
        if found == key {
            return Some(after[..end].replace("\\\"", "\""));
        }
        rest = &after[end + 1..];
    }
    None
}

fn is_builtin(name: &str) -> bool {
    matches!(
        name,
        "string"
            | "bool"
            | "int"
            | "int8"
            | "int16"
            | "int32"
            | "int64"
            | "uint"
            | "uint8"
            | "uint16"
            | "uint32"
            | "uint64"
            | "uintptr"
            | "float32"
            | "float64"
            | "byte"
            | "rune"
            | "any"
            | "error"
    )
}

/// A Go type as JSON Schema: scalars, slices, maps, pointers; named structs are filled in
/// by the caller.
pub fn go_type_schema(type_text: &str) -> Value {
    let text = type_text.trim().trim_start_matches('*');
    if let Some(element) = text.strip_prefix("[]") {
        if element == "byte" {
            return json!({"type": "string"});
        }
        return json!({"type": "array", "items": go_type_schema(element)});
    }
    if let Some(rest) = text.strip_prefix("map[") {
        let value = rest.split_once(']').map_or("", |(_, value)| value);
        return json!({"type": "object", "additionalProperties": go_type_schema(value)});
    }
    match text {
        "string" | "time.Time" | "json.RawMessage" => json!({"type": "string"}),
        "bool" => json!({"type": "boolean"}),
        "int" | "int8" | "int16" | "int32" | "int64" | "uint" | "uint8" | "uint16" | "uint32"
        | "uint64" | "byte" | "rune" => json!({"type": "integer"}),
        "float32" | "float64" => json!({"type": "number"}),
        "any" | "interface{}" => json!({}),
        _ => json!({"type": "object"}),
    }
}

/// Puts a nested struct schema where the field type holds it (`[]Item` -> array of it).
fn wrap_like(type_text: &str, nested: Value) -> Value {
    let text = type_text.trim().trim_start_matches('*');
    if let Some(element) = text.strip_prefix("[]") {
        return json!({"type": "array", "items": wrap_like(element, nested)});
    }
    nested
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_tags_name_and_make_optional() {
        let field = field_from_tag(
            "Query",
            "string",
            r#"json:"query" jsonschema:"the search query""#,
        )
        .unwrap();
        assert_eq!(field.name, "query");
        assert!(field.required);
        assert_eq!(field.description.as_deref(), Some("the search query"));

        let field = field_from_tag("Limit", "*int", r#"json:"limit,omitempty""#).unwrap();
        assert_eq!(field.name, "limit");
        assert!(!field.required);

        assert!(field_from_tag("Secret", "string", r#"json:"-""#).is_none());
        assert!(field_from_tag("internal", "string", "").is_none());
        let field = field_from_tag("Repo", "string", "").unwrap();
        assert_eq!(field.name, "Repo");
        let field = field_from_tag(
            "Owner",
            "string",
            r#"json:"owner" jsonschema:"description=repo owner""#,
        )
        .unwrap();
        assert_eq!(field.description.as_deref(), Some("repo owner"));
    }

    #[test]
    fn go_types_map_to_json_schema() {
        assert_eq!(go_type_schema("string"), json!({"type": "string"}));
        assert_eq!(go_type_schema("*int64"), json!({"type": "integer"}));
        assert_eq!(go_type_schema("float64"), json!({"type": "number"}));
        assert_eq!(
            go_type_schema("[]string"),
            json!({"type": "array", "items": {"type": "string"}})
        );
        assert_eq!(
            go_type_schema("map[string]any"),
            json!({"type": "object", "additionalProperties": {}})
        );
        assert_eq!(go_type_schema("bool"), json!({"type": "boolean"}));
    }

    #[test]
    fn struct_tags_are_split_by_key() {
        let tag = r#"json:"path" jsonschema:"a path, relative to \"root\"""#;
        assert_eq!(tag_value(tag, "json").as_deref(), Some("path"));
        assert_eq!(
            tag_value(tag, "jsonschema").as_deref(),
            Some(r#"a path, relative to "root""#)
        );
        assert_eq!(tag_value(tag, "yaml"), None);
    }
}
