//! The decision engine: a validated policy compiled once (regexes built, tools indexed),
//! then asked about each call. `policy explain` and the gateway both call
//! [`CompiledPolicy::decide`]; there is no other implementation of the rules.
//!
//! Order of judgement, first match wins:
//! 1. `hide` (or a tool the policy does not name under `default: deny`) → [`Verdict::Hidden`];
//! 2. the definition pin → [`Verdict::Deny`];
//! 3. `require`, in order; 4. `deny_if`, in order;
//! 5. limits (`all_tools` then the tool's) are reserved, all or none;
//! 6. `approval` → [`Verdict::NeedsApproval`], holding the reservation;
//! 7. otherwise [`Verdict::Allow`], holding the reservation.
//!
//! Conditions fail closed: a condition that cannot be judged (a `regex` on a number, `gt`
//! on a string) makes `require` refuse and makes a `deny_if` rule fire.

use std::collections::HashMap;

use regex::Regex;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::counters::{Counters, LimitRequest, Reservation};
use super::model::{Condition, DefaultAction, Limit, Op, Policy, Scope};
use crate::model::PinParts;

/// What the gateway does with the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Forward it.
    Allow,
    /// Act as if the tool did not exist: JSON-RPC error -32602 "unknown tool".
    Hidden,
    /// Answer with an `isError` tool result whose text is [`Decision::refusal_text`].
    Deny,
    /// Ask a person (MCP elicitation); without an approver, refuse with the message.
    NeedsApproval,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Hidden => "hidden",
            Verdict::Deny => "deny",
            Verdict::NeedsApproval => "needs_approval",
        }
    }
}

/// The engine's answer about one call.
#[derive(Debug)]
#[must_use]
pub struct Decision {
    pub verdict: Verdict,
    /// The rule that decided, as a stable JSON path into the policy: `hide[0]`, `default`,
    /// `tools.send_message`, `tools.send_message.deny_if[0]`, `all_tools.limits[1]`,
    /// `tools.x.pin`, `tools.x.approval`, `arguments`.
    pub rule: String,
    /// Why, for the agent (after `[POLICY DENIED]`) and for people.
    pub message: String,
    /// Units taken on the limits (for `Allow` and `NeedsApproval` only). Release them with
    /// [`Counters::release`] if the call is then not made or fails upstream.
    pub reservation: Option<Reservation>,
}

impl Decision {
    /// The text of the `isError` tool result for a refusal.
    pub fn refusal_text(&self) -> String {
        format!("[POLICY DENIED] {}: {}", self.rule, self.message)
    }

    fn refuse(verdict: Verdict, rule: String, message: String) -> Decision {
        Decision {
            verdict,
            rule,
            message,
            reservation: None,
        }
    }
}

/// Who is calling and when.
#[derive(Debug, Clone, Copy)]
pub struct CallContext<'a> {
    /// The credential the call came with. `None` (stdio, or HTTP without `--grants`) makes
    /// the session its own anonymous grant, so one client never uses up another's limits.
    pub grant: Option<&'a str>,
    /// The MCP session; `None` counts as one anonymous session.
    pub session: Option<&'a str>,
    pub now: OffsetDateTime,
    /// The hash of the tool's definition as the upstream currently lists it
    /// ([`crate::model::definition_hash`]). `None` means the caller does not know it and
    /// the pin is not checked; the gateway always passes it.
    pub definition_hash: Option<&'a str>,
    /// The part hashes of that definition ([`crate::model::definition_hashes`]), so a pin
    /// refusal can say what changed.
    pub definition_parts: Option<&'a PinParts>,
}

impl<'a> CallContext<'a> {
    pub fn new(now: OffsetDateTime) -> CallContext<'a> {
        CallContext {
            grant: None,
            session: None,
            now,
            definition_hash: None,
            definition_parts: None,
        }
    }
}

/// One step of the engine's reasoning, for `policy explain`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub rule: String,
    pub outcome: String,
}

/// A policy ready to judge calls. Build it with [`super::load`] (text, validated, with
/// positions in errors) or [`CompiledPolicy::compile`] (an already-validated model).
#[derive(Debug)]
pub struct CompiledPolicy {
    default: DefaultAction,
    hide_all: Option<usize>,
    hidden: HashMap<String, usize>,
    all_tools_limits: Vec<Limit>,
    tools: HashMap<String, CompiledTool>,
    policy: Policy,
}

#[derive(Debug)]
struct CompiledTool {
    rule_path: String,
    limits: Vec<Limit>,
    require: Vec<CompiledCondition>,
    deny_if: Vec<(Vec<CompiledCondition>, Option<String>)>,
    pin: Option<String>,
    pin_parts: Option<Box<PinParts>>,
    approval: Option<String>,
}

#[derive(Debug)]
struct CompiledCondition {
    segments: Vec<String>,
    path: String,
    op: Op,
    operand: Operand,
}

#[derive(Debug)]
enum Operand {
    Value(Value),
    Values(Vec<Value>),
    Number(f64),
    Regex(Regex),
    Exists(bool),
}

/// Regexes in policies come from people we trust less than ourselves; cap what one may
/// cost. 10 MiB (the regex crate's default) fits the length patterns the generator writes
/// for a `maxLength` up to about 16,000 characters.
pub(crate) const REGEX_SIZE_LIMIT: usize = 10 << 20;

pub(crate) fn compile_regex(pattern: &str) -> Result<Regex, regex::Error> {
    regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
}

/// The policy's path for a tool: `tools.x`, or `tools["a.b"]` for names that need quoting.
pub fn tool_rule_path(name: &str) -> String {
    super::path::JsonPath::root()
        .key("tools")
        .key(name)
        .to_string()
}

impl CompiledPolicy {
    /// Compiles a policy. It re-runs the semantic checks (without positions; use
    /// [`super::load`] for messages people read) so that no invalid policy is ever enforced.
    pub fn compile(policy: Policy) -> Result<CompiledPolicy, super::PolicyError> {
        let problems: Vec<super::check::Problem> = super::check::semantic_problems(&policy)
            .into_iter()
            .filter(|problem| problem.severity == super::check::Severity::Error)
            .collect();
        if !problems.is_empty() {
            return Err(super::PolicyError::Invalid {
                problems: problems
                    .into_iter()
                    .map(|problem| problem.at_unknown_position())
                    .collect(),
            });
        }
        let hide_all = policy.hide.iter().position(|name| name == "*");
        let mut hidden = HashMap::new();
        for (index, name) in policy.hide.iter().enumerate() {
            hidden.entry(name.clone()).or_insert(index);
        }
        let mut tools = HashMap::new();
        for (name, rule) in &policy.tools {
            let rule_path = tool_rule_path(name);
            let require = rule
                .require
                .iter()
                .map(compile_condition)
                .collect::<Result<_, _>>()?;
            let deny_if = rule
                .deny_if
                .iter()
                .map(|deny| {
                    let conditions = deny
                        .conditions
                        .iter()
                        .map(compile_condition)
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok((conditions, deny.on_deny.clone()))
                })
                .collect::<Result<_, super::PolicyError>>()?;
            tools.insert(
                name.clone(),
                CompiledTool {
                    rule_path,
                    limits: rule.limits.clone(),
                    require,
                    deny_if,
                    pin: rule.pin.clone(),
                    pin_parts: rule.pin_parts.clone(),
                    approval: rule
                        .approval
                        .as_ref()
                        .map(|approval| approval.message.clone()),
                },
            );
        }
        Ok(CompiledPolicy {
            default: policy.default,
            hide_all,
            hidden,
            all_tools_limits: policy
                .all_tools
                .as_ref()
                .map(|all| all.limits.clone())
                .unwrap_or_default(),
            tools,
            policy,
        })
    }

    /// The policy this was compiled from.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Whether `tools/list` must leave the tool out, and a call to it be answered as if it
    /// did not exist: hidden, or not named under `default: deny`.
    pub fn is_hidden(&self, name: &str) -> bool {
        self.hidden_by(name).is_some()
    }

    /// The names, of those given, that `tools/list` may show, in the order given.
    pub fn visible_tools<'n>(&self, names: impl IntoIterator<Item = &'n str>) -> Vec<&'n str> {
        names
            .into_iter()
            .filter(|name| !self.is_hidden(name))
            .collect()
    }

    /// Which rule hides the tool, and why, if one does.
    fn hidden_by(&self, name: &str) -> Option<(String, String)> {
        if let Some(index) = self.hide_all {
            return Some((
                format!("hide[{index}]"),
                "the policy hides every tool (\"*\")".to_owned(),
            ));
        }
        if let Some(index) = self.hidden.get(name) {
            return Some((
                format!("hide[{index}]"),
                format!("the policy hides `{name}`"),
            ));
        }
        if self.default == DefaultAction::Deny && !self.tools.contains_key(name) {
            return Some((
                "default".to_owned(),
                format!("`{name}` is not named by the policy and the default is deny"),
            ));
        }
        None
    }

    /// Judges one `tools/call`. `arguments` is the call's `arguments` (absent: pass
    /// `Value::Null`). For `Allow` and `NeedsApproval`, the limits' units are taken from
    /// `counters` and returned in [`Decision::reservation`].
    pub fn decide(
        &self,
        tool: &str,
        arguments: &Value,
        context: &CallContext<'_>,
        counters: &dyn Counters,
    ) -> Decision {
        self.judge(tool, arguments, context, counters, None)
    }

    /// [`decide`](Self::decide), also recording each step of the reasoning.
    pub fn decide_traced(
        &self,
        tool: &str,
        arguments: &Value,
        context: &CallContext<'_>,
        counters: &dyn Counters,
        trace: &mut Vec<Step>,
    ) -> Decision {
        self.judge(tool, arguments, context, counters, Some(trace))
    }

    fn judge(
        &self,
        tool: &str,
        arguments: &Value,
        context: &CallContext<'_>,
        counters: &dyn Counters,
        mut trace: Option<&mut Vec<Step>>,
    ) -> Decision {
        let mut note = |rule: &str, outcome: String| {
            if let Some(trace) = trace.as_deref_mut() {
                trace.push(Step {
                    rule: rule.to_owned(),
                    outcome,
                });
            }
        };
        if let Some((rule, message)) = self.hidden_by(tool) {
            note(&rule, format!("hidden: {message}"));
            return Decision::refuse(Verdict::Hidden, rule, message);
        }
        let empty = serde_json::Map::new();
        let arguments = match arguments {
            Value::Object(map) => map,
            Value::Null => &empty,
            _ => {
                let message = "the call's arguments are not a JSON object".to_owned();
                note("arguments", message.clone());
                return Decision::refuse(Verdict::Deny, "arguments".to_owned(), message);
            }
        };
        let compiled = self.tools.get(tool);
        let rule_path = match compiled {
            Some(compiled) => {
                note(&compiled.rule_path, "the policy names this tool".to_owned());
                compiled.rule_path.clone()
            }
            None => {
                note("default", "not named; the default is allow".to_owned());
                "default".to_owned()
            }
        };
        if let Some(compiled) = compiled {
            if let Some(refusal) = compiled.check_pin(context, &mut note) {
                return refusal;
            }
            for (index, condition) in compiled.require.iter().enumerate() {
                let rule = format!("{}.require[{index}]", compiled.rule_path);
                match condition.evaluate(arguments) {
                    Judged::Holds => note(&rule, format!("holds: {}", condition.describe())),
                    Judged::Fails => {
                        let message = format!("requires {}", condition.describe());
                        note(&rule, format!("fails: {message}"));
                        return Decision::refuse(Verdict::Deny, rule, message);
                    }
                    Judged::Unjudgeable(why) => {
                        let message = format!(
                            "requires {}, which cannot be judged: {why}",
                            condition.describe()
                        );
                        note(&rule, format!("fails closed: {message}"));
                        return Decision::refuse(Verdict::Deny, rule, message);
                    }
                }
            }
            for (index, (conditions, on_deny)) in compiled.deny_if.iter().enumerate() {
                let rule = format!("{}.deny_if[{index}]", compiled.rule_path);
                let mut fires = true;
                let mut unjudged = Vec::new();
                for condition in conditions {
                    match condition.evaluate(arguments) {
                        Judged::Holds => {}
                        Judged::Fails => {
                            fires = false;
                            break;
                        }
                        Judged::Unjudgeable(why) => {
                            unjudged.push(format!("{} ({why})", condition.describe()))
                        }
                    }
                }
                if !fires {
                    note(&rule, "does not apply".to_owned());
                    continue;
                }
                let mut message = on_deny
                    .clone()
                    .unwrap_or_else(|| "Refused by policy.".to_owned());
                if !unjudged.is_empty() {
                    message = format!(
                        "{message} (could not judge {}, so refused)",
                        unjudged.join("; ")
                    );
                }
                note(&rule, format!("applies: {message}"));
                return Decision::refuse(Verdict::Deny, rule, message);
            }
        }
        // Limits: every applicable one, reserved together.
        let mut limits: Vec<(String, &Limit)> = self
            .all_tools_limits
            .iter()
            .enumerate()
            .map(|(index, limit)| (format!("all_tools.limits[{index}]"), limit))
            .collect();
        if let Some(compiled) = compiled {
            limits.extend(
                compiled.limits.iter().enumerate().map(|(index, limit)| {
                    (format!("{}.limits[{index}]", compiled.rule_path), limit)
                }),
            );
        }
        let session = context.session.unwrap_or("");
        let anonymous;
        let grant = match context.grant {
            Some(grant) => grant,
            None => {
                anonymous = format!("anonymous session {session}");
                anonymous.as_str()
            }
        };
        let requests: Vec<LimitRequest<'_>> = limits
            .iter()
            .map(|(_, limit)| LimitRequest {
                counter: &limit.counter,
                window: limit.window,
                scope: limit.scope,
                scope_id: match limit.scope {
                    Scope::Grant => grant,
                    Scope::Session => session,
                    Scope::Global => "",
                },
                max: limit.max,
            })
            .collect();
        let reservation = if requests.is_empty() {
            None
        } else {
            match counters.reserve(&requests, context.now) {
                Ok(reservation) => {
                    for (rule, limit) in &limits {
                        note(rule, format!("within {}", describe_limit(limit)));
                    }
                    Some(reservation)
                }
                Err(exceeded) => {
                    let (rule, limit) = &limits[exceeded.index.min(limits.len() - 1)];
                    let retry = exceeded
                        .retry_at
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default();
                    let message = format!(
                        "rate limit reached: {} (counter `{}`); try again after {retry}",
                        describe_limit(limit),
                        limit.counter
                    );
                    note(rule, message.clone());
                    return Decision::refuse(Verdict::Deny, rule.clone(), message);
                }
            }
        };
        if let Some(message) = compiled.and_then(|compiled| compiled.approval.as_ref()) {
            let rule = format!("{rule_path}.approval");
            note(&rule, "a person must approve this call".to_owned());
            return Decision {
                verdict: Verdict::NeedsApproval,
                rule,
                message: message.clone(),
                reservation,
            };
        }
        let message = match compiled {
            Some(_) => format!("allowed by {rule_path}"),
            None => "allowed: not named, and the default is allow".to_owned(),
        };
        Decision {
            verdict: Verdict::Allow,
            rule: rule_path,
            message,
            reservation,
        }
    }
}

/// `10 calls per minute per grant`.
pub fn describe_limit(limit: &Limit) -> String {
    let calls = if limit.max == 1 { "call" } else { "calls" };
    let per = match limit.scope {
        Scope::Grant => "per grant",
        Scope::Session => "per session",
        Scope::Global => "in total",
    };
    format!("{} {calls} per {} {per}", limit.max, limit.window.as_str())
}

impl CompiledTool {
    fn check_pin(
        &self,
        context: &CallContext<'_>,
        note: &mut impl FnMut(&str, String),
    ) -> Option<Decision> {
        let pin = self.pin.as_ref()?;
        let rule = format!("{}.pin", self.rule_path);
        match context.definition_hash {
            None => {
                note(
                    &rule,
                    "not checked: the tool's current definition is not known here".to_owned(),
                );
                None
            }
            Some(current) if current == pin => {
                note(&rule, "the definition matches the pin".to_owned());
                None
            }
            Some(current) => {
                let changed = match (&self.pin_parts, context.definition_parts) {
                    (Some(pinned), Some(now)) => {
                        let changed = pinned.changed(now);
                        if changed.is_empty() {
                            String::new()
                        } else {
                            format!(": its {} changed", changed.join(" and "))
                        }
                    }
                    _ => String::new(),
                };
                let message = format!(
                    "the tool's definition is not the one the policy pinned{changed} (now {current}, pinned {pin}); it is refused until the pin is updated"
                );
                note(&rule, message.clone());
                Some(Decision::refuse(Verdict::Deny, rule, message))
            }
        }
    }
}

fn compile_condition(condition: &Condition) -> Result<CompiledCondition, super::PolicyError> {
    let invalid = |message: String| super::PolicyError::Invalid {
        problems: vec![super::check::Diagnostic::unplaced(
            condition.path.clone(),
            message,
        )],
    };
    let segments: Vec<String> = condition
        .path
        .strip_prefix("args.")
        .map(|rest| rest.split('.').map(str::to_owned).collect())
        .ok_or_else(|| {
            invalid(format!(
                "path `{}` does not start with `args.`",
                condition.path
            ))
        })?;
    let value = condition.value.clone();
    let operand = match condition.op {
        Op::Eq | Op::Neq | Op::Contains => {
            Operand::Value(value.ok_or_else(|| invalid("a value is required".to_owned()))?)
        }
        Op::In | Op::NotIn => match value {
            Some(Value::Array(values)) => Operand::Values(values),
            _ => return Err(invalid("`in` and `not_in` need an array".to_owned())),
        },
        Op::Lt | Op::Lte | Op::Gt | Op::Gte => match value.as_ref().and_then(Value::as_f64) {
            Some(number) => Operand::Number(number),
            None => return Err(invalid("comparisons need a number".to_owned())),
        },
        Op::Regex => match value.as_ref().and_then(Value::as_str) {
            Some(pattern) => Operand::Regex(
                compile_regex(pattern).map_err(|error| invalid(format!("bad regex: {error}")))?,
            ),
            None => return Err(invalid("`regex` needs a string".to_owned())),
        },
        Op::Exists => match value {
            None => Operand::Exists(true),
            Some(Value::Bool(expected)) => Operand::Exists(expected),
            Some(_) => return Err(invalid("`exists` takes true or false".to_owned())),
        },
    };
    Ok(CompiledCondition {
        segments,
        path: condition.path.clone(),
        op: condition.op,
        operand,
    })
}

enum Judged {
    Holds,
    Fails,
    Unjudgeable(String),
}

impl From<bool> for Judged {
    fn from(holds: bool) -> Judged {
        if holds { Judged::Holds } else { Judged::Fails }
    }
}

/// JSON equality, except that numbers compare by value (`1` equals `1.0`).
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => x == y,
        },
        (Value::Array(xs), Value::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| json_equal(x, y))
        }
        (Value::Object(xs), Value::Object(ys)) => {
            xs.len() == ys.len()
                && xs
                    .iter()
                    .all(|(key, x)| ys.get(key).is_some_and(|y| json_equal(x, y)))
        }
        _ => a == b,
    }
}

impl CompiledCondition {
    fn lookup<'v>(&self, arguments: &'v serde_json::Map<String, Value>) -> Option<&'v Value> {
        let (first, rest) = self.segments.split_first()?;
        let mut current = arguments.get(first)?;
        for segment in rest {
            current = match current {
                Value::Object(map) => map.get(segment)?,
                Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(current)
    }

    fn evaluate(&self, arguments: &serde_json::Map<String, Value>) -> Judged {
        let found = self.lookup(arguments);
        if let Operand::Exists(expected) = self.operand {
            return (found.is_some() == expected).into();
        }
        // An absent argument equals nothing: it is in no list, matches no pattern and is
        // compared with nothing; so `neq` and `not_in` hold for it.
        let Some(actual) = found else {
            return matches!(self.op, Op::Neq | Op::NotIn).into();
        };
        match (&self.operand, self.op) {
            (Operand::Value(expected), Op::Eq) => json_equal(actual, expected).into(),
            (Operand::Value(expected), Op::Neq) => (!json_equal(actual, expected)).into(),
            (Operand::Value(expected), _) => match (actual, expected) {
                (Value::String(text), Value::String(part)) => text.contains(part.as_str()).into(),
                (Value::Array(items), _) => {
                    items.iter().any(|item| json_equal(item, expected)).into()
                }
                _ => Judged::Unjudgeable(format!("{} is neither a string nor an array", self.path)),
            },
            (Operand::Values(values), op) => {
                let member = values.iter().any(|value| json_equal(actual, value));
                (if op == Op::In { member } else { !member }).into()
            }
            (Operand::Number(bound), op) => match actual.as_f64() {
                Some(number) => match op {
                    Op::Lt => number < *bound,
                    Op::Lte => number <= *bound,
                    Op::Gt => number > *bound,
                    _ => number >= *bound,
                }
                .into(),
                None => Judged::Unjudgeable(format!("{} is not a number", self.path)),
            },
            (Operand::Regex(regex), _) => match actual {
                Value::String(text) => regex.is_match(text).into(),
                _ => Judged::Unjudgeable(format!("{} is not a string", self.path)),
            },
            (Operand::Exists(_), _) => Judged::Fails,
        }
    }

    /// `args.target regex "^multiagent:"`.
    fn describe(&self) -> String {
        let operand = match &self.operand {
            Operand::Value(value) => value.to_string(),
            Operand::Values(values) => Value::Array(values.clone()).to_string(),
            Operand::Number(number) => number.to_string(),
            Operand::Regex(regex) => Value::String(regex.as_str().to_owned()).to_string(),
            Operand::Exists(true) => return format!("{} to be present", self.path),
            Operand::Exists(false) => return format!("{} to be absent", self.path),
        };
        format!("{} {} {operand}", self.path, self.op.as_str())
    }
}
