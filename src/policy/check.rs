//! `policy check`: is this text a policy, and does it make sense? Every problem names the
//! JSON path and the line:column it is at.
//!
//! Three passes: JSON syntax (serde_json's own positions), the shape (serde with
//! `serde_path_to_error` for the path, our [`PositionIndex`] for the position), then the
//! semantics ([`semantic_problems`], shared with [`super::CompiledPolicy::compile`] so the
//! engine can never run a policy `check` would refuse), and optionally the catalogue's
//! knowledge of the server's tools.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::Value;

use super::engine::compile_regex;
use super::model::{Condition, FORMAT_VERSION, Limit, Op, Policy, Scope, Window};
use super::path::{JsonPath, Position, PositionIndex, Segment};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A problem found by the semantic pass, before it is placed in the text.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub severity: Severity,
    pub path: JsonPath,
    pub message: String,
}

impl Problem {
    fn error(path: JsonPath, message: impl Into<String>) -> Problem {
        Problem {
            severity: Severity::Error,
            path,
            message: message.into(),
        }
    }

    fn warning(path: JsonPath, message: impl Into<String>) -> Problem {
        Problem {
            severity: Severity::Warning,
            path,
            message: message.into(),
        }
    }

    fn place(self, index: &PositionIndex) -> Diagnostic {
        let position = index.locate(&self.path);
        Diagnostic {
            severity: self.severity,
            path: self.path.to_string(),
            line: position.line,
            column: position.column,
            message: self.message,
        }
    }

    /// For a model without text (compiled directly): line and column 0.
    pub fn at_unknown_position(self) -> Diagnostic {
        Diagnostic {
            severity: self.severity,
            path: self.path.to_string(),
            line: 0,
            column: 0,
            message: self.message,
        }
    }
}

/// A problem placed in the file. `line` and `column` are 1-based; 0 when there is no text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl Diagnostic {
    pub(crate) fn unplaced(path: String, message: String) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            path,
            line: 0,
            column: 0,
            message,
        }
    }

    fn at(severity: Severity, path: &JsonPath, position: Position, message: String) -> Diagnostic {
        Diagnostic {
            severity,
            path: path.to_string(),
            line: position.line,
            column: position.column,
            message,
        }
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}: {severity}: {}: {}",
            self.line, self.column, self.path, self.message
        )
    }
}

/// What the catalogue knows about the server a policy is for.
#[derive(Debug, Clone, Default)]
pub struct KnownServer {
    pub name: String,
    pub tools: BTreeMap<String, KnownTool>,
}

#[derive(Debug, Clone)]
pub struct KnownTool {
    pub input_schema: Value,
    pub definition_hash: String,
}

/// The result of checking a policy text.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// The policy, when the text had the right shape (it may still have semantic errors).
    pub policy: Option<Policy>,
    /// Errors first, then warnings; each in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl CheckReport {
    pub fn is_valid(&self) -> bool {
        self.policy.is_some()
            && !self
                .diagnostics
                .iter()
                .any(|diagnostic| diagnostic.severity == Severity::Error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|diagnostic| diagnostic.severity == Severity::Error)
    }
}

/// serde_json appends " at line L column C" to its messages; we print positions our way.
fn without_position(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(at) => &message[..at],
        None => message,
    }
}

fn path_from_serde(path: &serde_path_to_error::Path) -> JsonPath {
    JsonPath(
        path.iter()
            .filter_map(|segment| match segment {
                serde_path_to_error::Segment::Seq { index } => Some(Segment::Index(*index)),
                serde_path_to_error::Segment::Map { key } => Some(Segment::Key(key.clone())),
                serde_path_to_error::Segment::Enum { variant } => {
                    Some(Segment::Key(variant.clone()))
                }
                serde_path_to_error::Segment::Unknown => None,
            })
            .collect(),
    )
}

/// Checks a policy text. `known`, when given, is what the catalogue knows of the server.
pub fn check(text: &str, known: Option<&KnownServer>) -> CheckReport {
    let index = PositionIndex::build(text);
    let mut report = CheckReport::default();
    if let Err(error) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
        // serde_json says column 0 for an error at the very start of a line.
        let position = Position {
            line: error.line().max(1),
            column: error.column().max(1),
        };
        let message = format!("not valid JSON: {}", without_position(&error.to_string()));
        report.diagnostics.push(Diagnostic::at(
            Severity::Error,
            &JsonPath::root(),
            position,
            message,
        ));
        return report;
    }
    for (path, position) in &index.duplicates {
        let message = match path.0.last() {
            Some(Segment::Key(key)) => format!(
                "key `{key}` appears twice in one object; JSON readers disagree on which one counts"
            ),
            _ => "a key appears twice in one object".to_owned(),
        };
        report
            .diagnostics
            .push(Diagnostic::at(Severity::Error, path, *position, message));
    }
    // serde would read a struct from an array, by position; nobody writes a policy so.
    if !text.trim_start().starts_with('{') {
        report.diagnostics.push(Diagnostic::at(
            Severity::Error,
            &JsonPath::root(),
            index.locate(&JsonPath::root()),
            "a policy is a JSON object ({\"version\": \"1\", \"default\": ...})".to_owned(),
        ));
        return report;
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let policy: Policy = match serde_path_to_error::deserialize(&mut deserializer) {
        Ok(policy) => policy,
        Err(error) => {
            let path = path_from_serde(error.path());
            let inner = error.inner().to_string();
            let mut message = without_position(&inner).to_owned();
            if message.starts_with("duplicate field") && !index.duplicates.is_empty() {
                // Already reported, with its place, from the index.
                return report;
            }
            if message == "expected value" {
                // What serde_json says when a word from a fixed list is given as a number,
                // object or array.
                message =
                    "wrong type: expected a string (one of the words the schema allows)".to_owned();
            }
            // An unknown field is best shown at its key; other errors at the value.
            let position = if message.starts_with("unknown field") {
                index.locate_key(&path)
            } else {
                index.locate(&path)
            };
            report
                .diagnostics
                .push(Diagnostic::at(Severity::Error, &path, position, message));
            return report;
        }
    };
    let mut problems = semantic_problems(&policy);
    if let Some(known) = known {
        problems.extend(catalogue_problems(&policy, known));
    }
    report
        .diagnostics
        .extend(problems.into_iter().map(|problem| problem.place(&index)));
    report
        .diagnostics
        .sort_by_key(|diagnostic| (diagnostic.severity, diagnostic.line, diagnostic.column));
    report.policy = Some(policy);
    report
}

/// The semantic rules, on a parsed policy. Shared by `check` and the engine's compile.
pub fn semantic_problems(policy: &Policy) -> Vec<Problem> {
    let mut problems = Vec::new();
    let root = JsonPath::root();
    if policy.version != FORMAT_VERSION {
        problems.push(Problem::error(
            root.key("version"),
            format!(
                "unsupported version `{}`; this mcpwarden reads version \"{FORMAT_VERSION}\"",
                policy.version
            ),
        ));
    }
    let mut hidden_at: HashMap<&str, usize> = HashMap::new();
    for (position, name) in policy.hide.iter().enumerate() {
        let path = root.key("hide").index(position);
        if name.is_empty() {
            problems.push(Problem::error(path, "empty tool name in hide"));
        } else if let Some(first) = hidden_at.get(name.as_str()) {
            problems.push(Problem::warning(
                path,
                format!("`{name}` is already hidden at hide[{first}]"),
            ));
        } else {
            hidden_at.insert(name, position);
        }
    }
    let tools_path = root.key("tools");
    for name in policy.tools.keys() {
        let path = tools_path.key(name.as_str());
        if name.is_empty() {
            problems.push(Problem::error(path, "empty tool name"));
        } else if let Some(star) = hidden_at.get("*") {
            problems.push(Problem::error(
                path,
                format!("`{name}` is configured, but hide[{star}] is \"*\", which hides every tool; remove one"),
            ));
        } else if let Some(hidden) = hidden_at.get(name.as_str()) {
            problems.push(Problem::error(
                path,
                format!("`{name}` is both hidden (hide[{hidden}]) and configured; remove one"),
            ));
        }
    }
    let mut counters = CounterUses::default();
    if let Some(all) = &policy.all_tools {
        check_limits(
            &all.limits,
            &root.key("all_tools").key("limits"),
            &mut counters,
            &mut problems,
        );
    }
    for (name, rule) in &policy.tools {
        let path = tools_path.key(name.as_str());
        check_limits(
            &rule.limits,
            &path.key("limits"),
            &mut counters,
            &mut problems,
        );
        for (position, condition) in rule.require.iter().enumerate() {
            check_condition(
                condition,
                &path.key("require").index(position),
                &mut problems,
            );
        }
        for (position, deny) in rule.deny_if.iter().enumerate() {
            let deny_path = path.key("deny_if").index(position);
            for (number, condition) in deny.conditions.iter().enumerate() {
                check_condition(
                    condition,
                    &deny_path.key("conditions").index(number),
                    &mut problems,
                );
            }
            if deny
                .on_deny
                .as_deref()
                .is_some_and(|text| text.trim().is_empty())
            {
                problems.push(Problem::warning(
                    deny_path.key("on_deny"),
                    "on_deny is empty; the agent will not learn why it was refused",
                ));
            }
        }
        if let Some(pin) = &rule.pin
            && !is_pin(pin)
        {
            problems.push(Problem::error(
                path.key("pin"),
                format!("pin `{pin}` must be `sha256:` followed by 64 lowercase hex digits"),
            ));
        }
        if let Some(approval) = &rule.approval
            && approval.message.trim().is_empty()
        {
            problems.push(Problem::error(
                path.key("approval").key("message"),
                "approval message is empty; the approver must be told what they approve",
            ));
        }
    }
    problems
}

fn is_pin(pin: &str) -> bool {
    pin.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Where each counter was first used, with which window and scope.
#[derive(Default)]
struct CounterUses {
    first: HashMap<String, (Window, Scope, JsonPath)>,
}

fn check_limits(
    limits: &[Limit],
    path: &JsonPath,
    counters: &mut CounterUses,
    problems: &mut Vec<Problem>,
) {
    let mut in_this_list: HashMap<&str, usize> = HashMap::new();
    for (position, limit) in limits.iter().enumerate() {
        let limit_path = path.index(position);
        if limit.counter.trim().is_empty() {
            problems.push(Problem::error(
                limit_path.key("counter"),
                "counter name is empty",
            ));
            continue;
        }
        if limit.max == 0 {
            problems.push(Problem::error(
                limit_path.key("max"),
                "max is 0, which refuses every call; hide the tool or leave it out instead",
            ));
        }
        if let Some(first) = in_this_list.insert(&limit.counter, position) {
            problems.push(Problem::error(
                limit_path.key("counter"),
                format!(
                    "counter `{}` appears twice in these limits ({}[{first}]); each call would count twice",
                    limit.counter,
                    path
                ),
            ));
            continue;
        }
        match counters.first.get(&limit.counter) {
            None => {
                counters.first.insert(
                    limit.counter.clone(),
                    (limit.window, limit.scope, limit_path.clone()),
                );
            }
            Some((window, scope, first_path)) => {
                if *window != limit.window {
                    problems.push(Problem::error(
                        limit_path.key("window"),
                        format!(
                            "counter `{}` is shared with conflicting windows: `{}` here, `{}` at {first_path}; a shared counter needs one window",
                            limit.counter,
                            limit.window.as_str(),
                            window.as_str()
                        ),
                    ));
                }
                if *scope != limit.scope {
                    problems.push(Problem::error(
                        limit_path.key("scope"),
                        format!(
                            "counter `{}` is shared with conflicting scopes: `{}` here, `{}` at {first_path}; a shared counter needs one scope",
                            limit.counter,
                            limit.scope.as_str(),
                            scope.as_str()
                        ),
                    ));
                }
            }
        }
    }
}

/// The argument path of a condition, without `args.`; `None` when malformed.
pub(crate) fn argument_segments(path: &str) -> Option<Vec<&str>> {
    let rest = path.strip_prefix("args.")?;
    let segments: Vec<&str> = rest.split('.').collect();
    if segments.iter().any(|segment| segment.is_empty()) {
        return None;
    }
    Some(segments)
}

fn check_condition(condition: &Condition, path: &JsonPath, problems: &mut Vec<Problem>) {
    if !condition.path.starts_with("args.") {
        problems.push(Problem::error(
            path.key("path"),
            format!(
                "path `{}` must start with `args.` (e.g. `args.target`)",
                condition.path
            ),
        ));
    } else if argument_segments(&condition.path).is_none() {
        problems.push(Problem::error(
            path.key("path"),
            format!("path `{}` has an empty segment", condition.path),
        ));
    }
    let op = condition.op.as_str();
    let value_path = path.key("value");
    let value = condition.value.as_ref();
    match condition.op {
        Op::Eq | Op::Neq | Op::Contains => {
            if value.is_none() {
                problems.push(Problem::error(
                    path.clone(),
                    format!("`{op}` needs a value (to test for absence, use `exists` with false)"),
                ));
            }
        }
        Op::In | Op::NotIn => match value {
            Some(Value::Array(values)) => {
                if values.is_empty() {
                    problems.push(Problem::warning(
                        value_path,
                        format!(
                            "`{op}` with an empty list {}",
                            if condition.op == Op::In {
                                "never holds"
                            } else {
                                "always holds"
                            }
                        ),
                    ));
                }
            }
            _ => problems.push(Problem::error(
                if value.is_some() {
                    value_path
                } else {
                    path.clone()
                },
                format!("`{op}` needs an array value"),
            )),
        },
        Op::Lt | Op::Lte | Op::Gt | Op::Gte => {
            if !value.is_some_and(Value::is_number) {
                problems.push(Problem::error(
                    if value.is_some() {
                        value_path
                    } else {
                        path.clone()
                    },
                    format!("`{op}` needs a number value"),
                ));
            }
        }
        Op::Regex => match value {
            Some(Value::String(pattern)) => {
                if let Err(error) = compile_regex(pattern) {
                    problems.push(Problem::error(
                        value_path,
                        format!("bad regex: {}", regex_error_summary(&error)),
                    ));
                }
            }
            _ => problems.push(Problem::error(
                if value.is_some() {
                    value_path
                } else {
                    path.clone()
                },
                "`regex` needs a string value (a regular expression)",
            )),
        },
        Op::Exists => {
            if value.is_some_and(|value| !value.is_boolean()) {
                problems.push(Problem::error(
                    value_path,
                    "`exists` takes true or false (or no value, meaning true)",
                ));
            }
        }
    }
}

/// Problems only the catalogue can see: tools the server lacks, arguments a tool does not
/// take, pins that no longer match.
pub fn catalogue_problems(policy: &Policy, known: &KnownServer) -> Vec<Problem> {
    let mut problems = Vec::new();
    let tools_path = JsonPath::root().key("tools");
    for (name, rule) in &policy.tools {
        let path = tools_path.key(name.as_str());
        let Some(tool) = known.tools.get(name) else {
            problems.push(Problem::warning(
                path,
                format!(
                    "the catalogue knows no tool `{name}` on server {}",
                    known.name
                ),
            ));
            continue;
        };
        let conditions = rule
            .require
            .iter()
            .enumerate()
            .map(|(index, condition)| (path.key("require").index(index), condition))
            .chain(rule.deny_if.iter().enumerate().flat_map(|(index, deny)| {
                let deny_path = path.key("deny_if").index(index);
                deny.conditions
                    .iter()
                    .enumerate()
                    .map(move |(number, condition)| {
                        (deny_path.key("conditions").index(number), condition)
                    })
            }));
        for (condition_path, condition) in conditions {
            let Some(segments) = argument_segments(&condition.path) else {
                continue;
            };
            if let Some(message) = missing_argument(&tool.input_schema, &segments, name) {
                problems.push(Problem::error(condition_path.key("path"), message));
            }
        }
        if let Some(pin) = &rule.pin
            && *pin != tool.definition_hash
        {
            problems.push(Problem::warning(
                    path.key("pin"),
                    format!(
                        "pin differs from the catalogue's definition hash {}; the gateway refuses the tool until the pin is updated",
                        tool.definition_hash
                    ),
                ));
        }
    }
    problems
}

/// Walks the schema's `properties` along `segments`. A schema level without `properties`
/// (free-form object, array, anything) ends the check: we only flag what is provably absent.
fn missing_argument(schema: &Value, segments: &[&str], tool: &str) -> Option<String> {
    let mut current = schema;
    for (depth, segment) in segments.iter().enumerate() {
        if let Some(items) = current.get("items")
            && segment.parse::<usize>().is_ok()
        {
            current = items;
            continue;
        }
        // Declared `properties`, even empty, are the arguments the tool says it takes.
        let properties = current.get("properties").and_then(Value::as_object)?;
        match properties.get(*segment) {
            Some(next) => current = next,
            None => {
                let known: Vec<&str> = properties.keys().map(String::as_str).collect();
                let at = segments[..=depth].join(".");
                let takes = if known.is_empty() {
                    "it takes no arguments".to_owned()
                } else {
                    format!("it takes: {}", known.join(", "))
                };
                return Some(format!("`{tool}` has no argument `{at}` ({takes})"));
            }
        }
    }
    None
}

/// The regex crate's syntax errors draw the pattern with a caret over several lines; a
/// diagnostic is one line, so keep the `error:` line and name the pattern instead.
fn regex_error_summary(error: &regex::Error) -> String {
    let text = error.to_string();
    text.lines()
        .find_map(|line| line.trim().strip_prefix("error: "))
        .map(str::to_owned)
        .unwrap_or_else(|| text.replace('\n', " "))
}
