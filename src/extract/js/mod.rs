//! Static extraction for TypeScript and JavaScript, source and compiled (`dist/`, CommonJS,
//! ESM bundles, minified bundles).
//!
//! Registrations are found by method name on any receiver, because compiled and bundled
//! code renames receivers (`server`, `this.server`, `e`):
//! - `.tool(name, [description], [shape], [annotations], handler)`: every overload of the
//!   1.x SDK, decided the way the SDK decides (a string is the description; an object
//!   whose values are all Zod schemas is the shape, another object the annotations), and
//!   `.tool(name, {description, inputSchema, ...}, handler)` / `.tool({name, ...})`;
//! - `.registerTool(name, {title, description, inputSchema, annotations}, handler)` in
//!   both SDK generations (`@modelcontextprotocol/sdk` 1.x and `@modelcontextprotocol/
//!   server`), and `.registerToolTask(...)` for task tools;
//! - fastmcp's `.addTool({name, description, parameters, annotations, execute})` and
//!   `.addTools([...])`;
//! - the low-level `setRequestHandler(ListToolsRequestSchema | "tools/list", handler)`:
//!   every `tools:` list the handler returns, inline objects or constants.
//!
//! Names, descriptions and schemas are folded by [`value::Evaluator`] (constants in scope,
//! `+` and template literals, one relative import), schemas by [`zod`]. A registration
//! inside `for (const t of LIST)` or `LIST.forEach((t) => ...)` over a literal array is
//! read once per element.
//!
//! Confidence: 1.0 when the name, the description (if one is given) and the schema (if
//! one is given) were all folded completely. A schema with parts that could not be read
//! costs 0.1; a given description that could not be folded costs 0.2; a schema or config
//! that could not be read at all costs 0.3. The floor is 0.5: the name was read, so the
//! tool exists.

mod value;
mod window;
mod zod;

use std::sync::LazyLock;

use aho_corasick::AhoCorasick;
use serde_json::{Value, json};
use tree_sitter::Node;

use self::value::{Env, Evaluator, ImportCache, Obj, Val, arguments_of, unwrap_callee};
use super::syntax::{self, Field as _};
use super::walk::Language;
use super::{FileOutcome, SourceFile, Unresolved};
use crate::model::{AnnotationSource, ExtractionMethod, ToolDef};

/// Literals one of which every registration shape contains. `tool(` covers `.tool(`,
/// `.registerTool(` and `.addTool(`; `tools/list` catches bundles where the schema
/// constant's name was minified away.
const PREFILTER: &[&str] = &[
    "tool(",
    "tool (",
    "registerTool",
    "addTool",
    "ListToolsRequestSchema",
    "tools/list",
];

static PREFILTER_MATCHER: LazyLock<Option<AhoCorasick>> =
    LazyLock::new(|| AhoCorasick::new(PREFILTER).ok());

/// Cheap literal check run before parsing: whether the text mentions any registration.
pub fn might_define_tools(text: &str) -> bool {
    match PREFILTER_MATCHER.as_ref() {
        Some(matcher) => matcher.is_match(text),
        // Cannot happen with these fixed patterns; parsing everything is the safe side.
        None => true,
    }
}

/// Loops over literal arrays are expanded up to this many bindings per registration.
const MAX_LOOP_BINDINGS: usize = 1_000;

/// Files at least this big are read through windows ([`window`]) before the whole file
/// is parsed. Below it a whole parse costs well under a millisecond and windows save
/// little.
pub const WINDOW_MIN_BYTES: usize = 32 * 1024;

/// Windows are given up (the whole file is parsed) once they cover this share of it.
const WINDOW_MAX_SHARE: f64 = 0.5;

/// Marks, among the names [`read_tree`] returns, a name whose sites a value needed.
const SITE_MARK: &str = "\u{0}site:";

/// Rounds of adding the statements that hold names the windows did not declare.
const WINDOW_MAX_ROUNDS: usize = 8;

/// Extracts the tools one TypeScript or JavaScript file registers.
pub fn extract(file: &SourceFile<'_>) -> FileOutcome {
    if file.text.len() >= WINDOW_MIN_BYTES
        && let Some(outcome) = extract_windowed(file)
    {
        return outcome;
    }
    extract_whole(file)
}

/// The grammar for a file: TSX, JavaScript, else TypeScript.
fn grammar_of(file: &SourceFile<'_>) -> Language {
    match file.language {
        Language::Tsx => Language::Tsx,
        Language::JavaScript => Language::JavaScript,
        _ => Language::TypeScript,
    }
}

/// Parses the whole file and reads every registration in it.
pub fn extract_whole(file: &SourceFile<'_>) -> FileOutcome {
    let (tree, syntax_error_row) = match syntax::parse_for_extraction(grammar_of(file), file.text) {
        Ok(parsed) => parsed,
        Err(reason) => {
            return FileOutcome {
                gave_up: Some(reason),
                ..FileOutcome::default()
            };
        }
    };
    let (mut outcome, _) = read_tree(file, &tree, &method_name_matches(file.text));
    outcome.syntax_error_row = syntax_error_row;
    outcome
}

/// Reads the file through windows: only the top-level statements that spell a
/// registration method, plus those that hold names the registrations use. `None` when
/// the whole file must be parsed instead: the statement scan failed, the windowed parse
/// has a syntax error, brackets nest deeper than [`syntax::MAX_DEPTH`] (the whole-file
/// path reports that), a name still resolves outside the windows after
/// [`WINDOW_MAX_ROUNDS`], or the windows grew past [`WINDOW_MAX_SHARE`] of the file.
pub fn extract_windowed(file: &SourceFile<'_>) -> Option<FileOutcome> {
    extract_windowed_with(file, WINDOW_MAX_SHARE)
}

/// [`extract_windowed`] with the share of the file past which windows are given up (the
/// corpus test uses 1.0, so small files are read through windows too).
fn extract_windowed_with(file: &SourceFile<'_>, max_share: f64) -> Option<FileOutcome> {
    let text = file.text;
    if syntax::brackets_deeper_than(text, syntax::MAX_DEPTH) {
        return None;
    }
    let starts = window::statement_starts(text)?;
    let matches = method_name_matches(text);
    let mut windows = window::Windows::default();
    for (start, _) in &matches {
        windows.add_statement_at(&starts, *start);
    }
    windows.normalise();
    if windows.is_empty() {
        // No method name at all: nothing registers here, whichever way it is parsed.
        return Some(FileOutcome::default());
    }
    let lines = window::LineIndex::new(text);
    let limit = (text.len() as f64 * max_share) as usize;
    for _ in 0..WINDOW_MAX_ROUNDS {
        if windows.bytes() > limit {
            return None;
        }
        let tree = syntax::parse_ranges(grammar_of(file), text, &windows.ranges(&lines))?;
        if tree.root_node().has_error() {
            return None;
        }
        let (outcome, missing) = read_tree(file, &tree, &matches);
        if missing.is_empty() {
            return Some(outcome);
        }
        // A value came from the calls, assignments or pushes of a name: windows settle it
        // only when no occurrence of that name lies outside them.
        let (sites, missing): (Vec<String>, Vec<String>) = missing
            .into_iter()
            .partition(|name| name.starts_with(SITE_MARK));
        if !sites.is_empty() {
            let sites: Vec<&str> = sites.iter().map(|name| &name[SITE_MARK.len()..]).collect();
            let finder = aho_corasick::AhoCorasick::new(&sites).ok()?;
            let bytes = text.as_bytes();
            let outside = finder.find_iter(text).any(|found| {
                let (start, end) = (found.start(), found.end());
                (start == 0 || !is_ident_byte(bytes[start - 1]))
                    && bytes.get(end).is_none_or(|byte| !is_ident_byte(*byte))
                    && !windows.contains(start)
            });
            if outside {
                return None;
            }
        }
        if missing.is_empty() {
            return Some(outcome);
        }
        let before = windows.clone();
        // Each (statement, name) outside the windows, once, in one pass over the text.
        let mut candidates: Vec<(usize, usize)> = Vec::new();
        let finder = aho_corasick::AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostLongest)
            .build(&missing)
            .ok()?;
        let bytes = text.as_bytes();
        for found in finder.find_iter(text) {
            let (start, end) = (found.start(), found.end());
            let whole = (start == 0 || !is_ident_byte(bytes[start - 1]))
                && bytes.get(end).is_none_or(|byte| !is_ident_byte(*byte));
            if whole && !windows.contains(start) {
                let statement = starts.partition_point(|begin| *begin <= start);
                candidates.push((statement, found.pattern().as_usize()));
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        for (index, name) in candidates {
            let (Some(begin), Some(end)) = (starts.get(index - 1), starts.get(index)) else {
                continue;
            };
            if text
                .get(*begin..*end)
                .is_some_and(|statement| window::declares(statement, &missing[name]))
            {
                windows.add_statement_at(&starts, *begin);
            }
        }
        windows.normalise();
        if windows == before {
            // Every name the registrations use is declared in the windows, or in no
            // top-level statement of the file: the whole file would read the same.
            return Some(outcome);
        }
    }
    None
}

/// Runs every registration of a parsed tree; also returns the names looked up that the
/// tree does not declare.
fn read_tree(
    file: &SourceFile<'_>,
    tree: &tree_sitter::Tree,
    matches: &[(usize, usize)],
) -> (FileOutcome, Vec<String>) {
    let mut outcome = FileOutcome::default();
    let imports = ImportCache::default();
    let evaluator = Evaluator::new(file.text, file, &imports);
    evaluator.set_root(tree.root_node());
    let mut reader = Reader {
        evaluator: &evaluator,
        outcome: &mut outcome,
    };
    for call in registration_calls(tree.root_node(), file.text, matches) {
        reader.registration(call);
    }
    let mut missing = evaluator.missing_names();
    // Names whose calls or assignments a value needed: marked, for the windows to check.
    missing.extend(
        evaluator
            .site_names()
            .into_iter()
            .map(|name| format!("{SITE_MARK}{name}")),
    );
    (outcome, missing)
}

fn is_ident_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'$'
}

/// Whole-identifier occurrences of a registration method name, as (start, end).
fn method_name_matches(text: &str) -> Vec<(usize, usize)> {
    let Some(matcher) = METHOD_MATCHER.as_ref() else {
        return Vec::new();
    };
    let bytes = text.as_bytes();
    matcher
        .find_iter(text)
        .map(|found| (found.start(), found.end()))
        .filter(|(start, end)| {
            !(*start > 0 && is_ident_byte(bytes[start - 1])
                || bytes.get(*end).is_some_and(|b| is_ident_byte(*b)))
        })
        .collect()
}

/// Registration method names, as [`Registration::of`] reads them.
const METHOD_NAMES: &[&str] = &[
    "tool",
    "registerTool",
    "registerToolTask",
    "addTool",
    "addTools",
    "setRequestHandler",
];

static METHOD_MATCHER: LazyLock<Option<AhoCorasick>> = LazyLock::new(|| {
    AhoCorasick::builder()
        .match_kind(aho_corasick::MatchKind::LeftmostLongest)
        .build(METHOD_NAMES)
        .ok()
});

/// The calls whose method name is a registration, in source order.
///
/// Found from the text, not by walking the tree: every registration spells its method
/// name, so each whole-identifier occurrence of one is looked up in the tree
/// (`descendant_for_byte_range`) and climbed to its call. On a 1 MB bundle this visits a
/// few nodes per occurrence instead of every node of the file.
fn registration_calls<'t>(root: Node<'t>, text: &str, matches: &[(usize, usize)]) -> Vec<Node<'t>> {
    if METHOD_MATCHER.is_none() {
        return registration_calls_by_walk(root, text);
    }
    let mut calls: Vec<Node<'t>> = Vec::new();
    for &(start, end) in matches {
        if start < root.start_byte() || end > root.end_byte() {
            continue;
        }
        let Some(name) = root.descendant_for_byte_range(start, end) else {
            continue;
        };
        if let Some(call) = call_of_method(root, name, text) {
            calls.push(call);
        }
    }
    calls.sort_by_key(|call| call.start_byte());
    calls.dedup_by_key(|call| call.id());
    calls
}

/// The call whose callee's property is `name`, if `name` is one.
fn call_of_method<'t>(root: Node<'t>, name: Node<'t>, text: &str) -> Option<Node<'t>> {
    if name.kind() != "property_identifier" {
        return None;
    }
    // One descent for the chain; `parent()` would descend from the root at every step.
    let chain = syntax::ancestors(root, name)?;
    let member = *chain.get(1)?;
    if member.kind() != "member_expression"
        || member.field("property").map(|p| p.id()) != Some(name.id())
    {
        return None;
    }
    // The callee may be wrapped: `(0, server.tool)(...)`, `(server.tool)(...)`, `server.tool!(...)`.
    for &parent in chain.iter().skip(2).take(8) {
        if parent.kind() == "call_expression" {
            let callee = unwrap_callee(parent.field("function")?);
            let matches =
                callee.id() == member.id() && Registration::of(syntax::text(name, text)).is_some();
            return matches.then_some(parent);
        }
    }
    None
}

/// The same calls by walking every node: the fallback should the matcher not build.
fn registration_calls_by_walk<'t>(root: Node<'t>, text: &str) -> Vec<Node<'t>> {
    let mut calls = Vec::new();
    let mut cursor = root.walk();
    loop {
        let node = cursor.node();
        if node.kind() == "call_expression"
            && let Some(callee) = node.field("function")
            && let callee = unwrap_callee(callee)
            && callee.kind() == "member_expression"
            && let Some(property) = callee.field("property")
            && Registration::of(syntax::text(property, text)).is_some()
        {
            calls.push(node);
        }
        if cursor.goto_first_child() {
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return calls;
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Registration {
    Tool,
    RegisterTool,
    AddTool,
    AddTools,
    RequestHandler,
}

impl Registration {
    fn of(method: &str) -> Option<Registration> {
        Some(match method {
            "tool" => Registration::Tool,
            "registerTool" | "registerToolTask" => Registration::RegisterTool,
            "addTool" => Registration::AddTool,
            "addTools" => Registration::AddTools,
            "setRequestHandler" => Registration::RequestHandler,
            _ => return None,
        })
    }
}

/// What one registration said, folded.
#[derive(Default)]
struct Found {
    name: Option<Val>,
    title: Option<Val>,
    description: Option<Val>,
    /// The schema as given: a Zod schema, a raw shape or a JSON Schema literal.
    schema: Option<Val>,
    annotations: Option<Val>,
    /// The config object itself could not be read.
    config_unknown: bool,
}

struct Reader<'r, 't, 'f> {
    evaluator: &'r Evaluator<'t, 'f>,
    outcome: &'r mut FileOutcome,
}

impl<'t> Reader<'_, 't, '_> {
    fn registration(&mut self, call: Node<'t>) {
        let Some(callee) = call.field("function").map(unwrap_callee) else {
            return;
        };
        let Some(kind) = self
            .evaluator
            .member_name(callee)
            .and_then(Registration::of)
        else {
            return;
        };
        let arguments = arguments_of(call);
        if kind == Registration::RequestHandler {
            self.list_tools_handler(call, &arguments);
            return;
        }
        for env in self.loop_bindings(call) {
            // A registration inside a helper that takes the name as a parameter is read
            // once per call of the helper, when this one reads no tool.
            let (tools, unresolved) = (self.outcome.tools.len(), self.outcome.unresolved.len());
            self.registration_in(call, kind, &arguments, &env);
            if self.outcome.tools.len() > tools || self.outcome.unresolved.len() == unresolved {
                continue;
            }
            let helper_calls = self.evaluator.call_envs(call, MAX_LOOP_BINDINGS);
            if helper_calls.is_empty() {
                continue;
            }
            let kept = self.outcome.unresolved.split_off(unresolved);
            for call_env in helper_calls {
                let mut bound = env.clone();
                bound.extend(call_env);
                self.registration_in(call, kind, &arguments, &bound);
            }
            if self.outcome.tools.len() == tools {
                // The calls did not settle it either: report what this one said.
                self.outcome.unresolved.truncate(unresolved);
                self.outcome.unresolved.extend(kept);
            }
        }
    }

    fn registration_in(
        &mut self,
        call: Node<'t>,
        kind: Registration,
        arguments: &[Node<'t>],
        env: &Env,
    ) {
        match kind {
            Registration::Tool => self.tool_call(call, arguments, env),
            Registration::RegisterTool => self.register_tool(call, arguments, env),
            Registration::AddTool => {
                if let Some(first) = arguments.first() {
                    let definition = self.evaluator.eval(*first, env);
                    self.definition_object(call, definition, call);
                }
            }
            Registration::AddTools => {
                if let Some(first) = arguments.first() {
                    match self.evaluator.eval(*first, env) {
                        Val::Array(items) => {
                            for item in items {
                                self.definition_object(call, item, call);
                            }
                        }
                        other => self.unresolved(call, &other, "the list passed to addTools"),
                    }
                }
            }
            Registration::RequestHandler => {}
        }
    }

    /// `.tool(...)`: the 1.x overloads, the config-object forms.
    fn tool_call(&mut self, call: Node<'t>, arguments: &[Node<'t>], env: &Env) {
        let evaluator = self.evaluator;
        // `.tool({name, description, ...})`.
        if arguments.len() == 1 {
            let definition = evaluator.eval(arguments[0], env);
            if matches!(&definition, Val::Object(object) if object.get("name").is_some()) {
                self.definition_object(call, definition, call);
            }
            return;
        }
        // A registration is a name and a handler at least; `agent.tool(fn)` is not ours.
        let Some((name_node, rest)) = arguments.split_first() else {
            return;
        };
        if rest.is_empty() {
            return;
        }
        let mut found = Found {
            name: Some(evaluator.eval(*name_node, env)),
            ..Found::default()
        };
        // The last argument is the handler; the middle ones are read as the SDK does.
        let middle = &rest[..rest.len() - 1];
        let mut index = 0;
        if let Some(first) = middle.first() {
            let value = evaluator.eval(*first, env);
            let stringy = matches!(
                first.kind(),
                "string" | "template_string" | "binary_expression"
            );
            if value.as_str().is_some() || (value.is_unknown() && stringy) {
                found.description = Some(value);
                index = 1;
            }
        }
        if let Some(node) = middle.get(index) {
            let value = evaluator.eval(*node, env);
            match &value {
                Val::Object(object) if is_config(object) => {
                    self.read_config(&mut found, object);
                }
                Val::Object(object) if zod::is_raw_shape(object) => {
                    found.schema = Some(value);
                    index += 1;
                    if let Some(node) = middle.get(index) {
                        found.annotations = Some(evaluator.eval(*node, env));
                    }
                }
                Val::Zod(_) => {
                    found.schema = Some(value);
                    index += 1;
                    if let Some(node) = middle.get(index) {
                        found.annotations = Some(evaluator.eval(*node, env));
                    }
                }
                Val::Object(object) if looks_like_annotations(object) => {
                    found.annotations = Some(value);
                }
                // An object with values that could not all be read: a shape we only
                // partly know, unless a later argument is the shape.
                Val::Object(_) => found.schema = Some(value),
                _ => found.schema = Some(value),
            }
        }
        self.emit(call, found, evaluator.location(call));
    }

    /// `.registerTool(name, config, handler)`.
    fn register_tool(&mut self, call: Node<'t>, arguments: &[Node<'t>], env: &Env) {
        let evaluator = self.evaluator;
        let Some(name_node) = arguments.first() else {
            return;
        };
        let mut found = Found {
            name: Some(evaluator.eval(*name_node, env)),
            ..Found::default()
        };
        match arguments.get(1).map(|node| evaluator.eval(*node, env)) {
            Some(Val::Object(config)) => self.read_config(&mut found, &config),
            Some(_) => found.config_unknown = true,
            None => {}
        }
        self.emit(call, found, evaluator.location(call));
    }

    fn read_config(&self, found: &mut Found, config: &Obj) {
        found.title = config.get("title").cloned();
        found.description = config.get("description").cloned();
        found.schema = config
            .get("inputSchema")
            .or_else(|| config.get("parameters"))
            .or_else(|| config.get("schema"))
            .cloned();
        found.annotations = config.get("annotations").cloned();
    }

    /// A whole definition object: fastmcp's `addTool`, `.tool({...})`, an element of a
    /// `tools:` list.
    fn definition_object(&mut self, call: Node<'t>, definition: Val, at: Node<'t>) {
        let Val::Object(object) = definition else {
            self.unresolved(at, &definition, "the tool definition");
            return;
        };
        let mut found = Found {
            name: Some(
                object
                    .get("name")
                    .cloned()
                    .unwrap_or_else(|| Val::unknown("the definition has no `name`")),
            ),
            ..Found::default()
        };
        self.read_config(&mut found, &object);
        let location = object
            .location
            .clone()
            .unwrap_or_else(|| self.evaluator.location(call));
        self.emit(at, found, location);
    }

    /// `setRequestHandler(ListToolsRequestSchema | "tools/list", handler)`.
    fn list_tools_handler(&mut self, call: Node<'t>, arguments: &[Node<'t>]) {
        let evaluator = self.evaluator;
        let (Some(schema), Some(handler)) = (arguments.first(), arguments.get(1)) else {
            return;
        };
        let is_list_tools = match schema.kind() {
            "string" => evaluator.eval(*schema, &Env::new()).as_str() == Some("tools/list"),
            "identifier" => evaluator.node_text(*schema) == "ListToolsRequestSchema",
            "member_expression" => evaluator.member_name(*schema) == Some("ListToolsRequestSchema"),
            _ => false,
        };
        if !is_list_tools {
            return;
        }
        let handler = match handler.kind() {
            "identifier" => evaluator
                .function_node(evaluator.node_text(*handler), *handler)
                .unwrap_or(*handler),
            _ => *handler,
        };
        let lists = tools_lists(handler, evaluator.text);
        if lists.is_empty() {
            // `setRequestHandler(ListToolsRequestSchema, listTools)`: a named handler
            // defined elsewhere, or one that builds its result at run time.
            self.outcome.unresolved.push(Unresolved {
                location: evaluator.location(call),
                method: ExtractionMethod::StaticTs,
                reason: "the tools/list handler returns no `tools:` list written in place"
                    .to_owned(),
            });
            return;
        }
        for list in lists {
            let value = evaluator.eval(list, &Env::new());
            match value {
                Val::Array(items) => {
                    for item in items {
                        self.definition_object(call, item, list);
                    }
                }
                other => {
                    // The 1.x McpServer's own handler lists its registered tools; in a
                    // bundle that inlines the SDK it is not a registration of the server.
                    if evaluator.node_text(list).contains("registeredTools") {
                        continue;
                    }
                    self.unresolved(list, &other, "the `tools:` list");
                }
            }
        }
    }

    /// Bindings for the loops around a registration: one environment per element when
    /// the loop runs over an array that folds, else the empty environment.
    fn loop_bindings(&self, call: Node<'t>) -> Vec<Env> {
        self.evaluator.loop_envs(call, MAX_LOOP_BINDINGS)
    }

    fn unresolved(&mut self, at: Node<'t>, value: &Val, what: &str) {
        let reason = match value {
            Val::Unknown(reason) => format!("{what} is not known statically: {reason}"),
            _ => format!("{what} is not a tool definition object"),
        };
        self.outcome.unresolved.push(Unresolved {
            location: self.evaluator.location(at),
            method: ExtractionMethod::StaticTs,
            reason,
        });
    }

    fn emit(&mut self, at: Node<'t>, found: Found, location: String) {
        let name = match found.name {
            Some(Val::Str(name)) if !name.is_empty() => name,
            Some(other) => {
                let other = match other {
                    Val::Str(_) => Val::unknown("the name is empty"),
                    other => other,
                };
                self.unresolved(at, &other, "the tool name");
                return;
            }
            None => {
                self.unresolved(at, &Val::unknown("no name given"), "the tool name");
                return;
            }
        };
        let mut confidence: f64 = 1.0;
        if found.config_unknown {
            confidence -= 0.3;
        }
        let description = match found.description {
            None => String::new(),
            Some(Val::Str(text)) => text,
            Some(_) => {
                confidence -= 0.2;
                String::new()
            }
        };
        let title = match found.title {
            Some(Val::Str(title)) => Some(title),
            _ => None,
        };
        let input_schema = match found.schema {
            None => json!({"type": "object", "properties": {}}),
            Some(schema) => {
                let (schema, completeness) = input_schema(schema);
                match completeness {
                    Completeness::Complete => {}
                    Completeness::Partial => confidence -= 0.1,
                    Completeness::Unknown => confidence -= 0.3,
                }
                schema
            }
        };
        let annotations = match found.annotations {
            Some(Val::Object(object)) => Some(Val::Object(object).to_json().0),
            _ => None,
        };
        let annotation_source = if annotations.is_some() {
            AnnotationSource::Declared
        } else {
            AnnotationSource::Absent
        };
        self.outcome.tools.push(ToolDef {
            name,
            title,
            description,
            input_schema,
            annotations,
            annotation_source,
            method: ExtractionMethod::StaticTs,
            location: Some(location),
            confidence: confidence.max(0.5),
        });
    }
}

enum Completeness {
    Complete,
    Partial,
    Unknown,
}

/// The input JSON Schema for a folded schema: a Zod object, a raw shape (`{a:
/// z.string()}`), or a JSON Schema literal.
fn input_schema(schema: Val) -> (Value, Completeness) {
    let grade = |complete: bool| {
        if complete {
            Completeness::Complete
        } else {
            Completeness::Partial
        }
    };
    match schema {
        Val::Zod(zod) => {
            let complete = zod.complete;
            (Value::Object(zod.schema), grade(complete))
        }
        Val::Object(object) if zod::is_raw_shape(&object) && !looks_like_json_schema(&object) => {
            let zod = zod::object_from_shape(&object);
            let complete = zod.complete;
            (Value::Object(zod.schema), grade(complete))
        }
        Val::Object(object) => {
            let partial = object.get("$incomplete").is_some();
            let (mut value, complete) = Val::Object(object).to_json();
            if let Value::Object(map) = &mut value {
                map.remove("$incomplete");
            }
            (value, grade(complete && !partial))
        }
        _ => (json!({"type": "object"}), Completeness::Unknown),
    }
}

fn looks_like_json_schema(object: &Obj) -> bool {
    matches!(object.get("type"), Some(Val::Str(_))) || object.get("properties").is_some()
}

/// An object that configures a tool (`{description, inputSchema}`) rather than being a
/// shape of parameters: the newer `.tool(name, config, handler)` form.
fn is_config(object: &Obj) -> bool {
    !object.entries.is_empty()
        && !zod::is_raw_shape(object)
        && object.entries.iter().all(|(key, _)| {
            matches!(
                key.as_str(),
                "title"
                    | "description"
                    | "inputSchema"
                    | "outputSchema"
                    | "annotations"
                    | "parameters"
                    | "_meta"
            )
        })
        && (object.get("inputSchema").is_some()
            || object.get("description").is_some()
            || object.get("parameters").is_some())
}

fn looks_like_annotations(object: &Obj) -> bool {
    object
        .entries
        .iter()
        .any(|(key, _)| key.ends_with("Hint") || key == "title")
}

/// The `tools:` values a list handler returns: `{tools: X}` and `{tools}` anywhere in the
/// handler, not inside nested functions other than the handler itself.
fn tools_lists<'t>(handler: Node<'t>, text: &str) -> Vec<Node<'t>> {
    let mut lists = Vec::new();
    let mut cursor = handler.walk();
    loop {
        let node = cursor.node();
        match node.kind() {
            "pair" => {
                if let (Some(key), Some(value)) = (node.field("key"), node.field("value")) {
                    let key_text = syntax::text(key, text).trim_matches(['"', '\'']);
                    if key_text == "tools" {
                        lists.push(value);
                    }
                }
            }
            "shorthand_property_identifier" if syntax::text(node, text) == "tools" => {
                lists.push(node);
            }
            _ => {}
        }
        if cursor.goto_first_child() {
            continue;
        }
        loop {
            if cursor.node().id() == handler.id() {
                return lists;
            }
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return lists;
            }
        }
    }
}

#[cfg(test)]
mod tests;
