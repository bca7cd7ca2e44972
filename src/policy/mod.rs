//! The policy model, generation from classifications, validation, and the one decision
//! engine that both `policy explain` and the gateway use.
//!
//! For the gateway: [`load_file`] (or [`load`]) once per (re)load, then for every
//! `tools/call` [`CompiledPolicy::decide`] with a [`CallContext`] and the shared
//! [`Counters`]; for `tools/list`, [`CompiledPolicy::visible_tools`]. A
//! [`Decision`] holding a reservation must have it released if the call is not made or
//! fails upstream.

pub mod check;
pub mod counters;
pub mod diff;
pub mod engine;
pub mod generate;
pub mod model;
pub mod path;

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

pub use check::{CheckReport, Diagnostic, KnownServer, KnownTool, Severity, check};
pub use counters::{
    Clock, Counters, InMemoryCounters, LimitExceeded, LimitRequest, ManualClock, Reservation,
    SlotKey, SystemClock,
};
pub use engine::{CallContext, CompiledPolicy, Decision, Step, Verdict};
pub use generate::{
    Generated, Recommendation, generate, generate_for, recommend, recommended_rule,
};
pub use model::{Policy, json_schema, json_schema_text};

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read the policy {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the policy is not valid: {}", summary(problems))]
    Invalid { problems: Vec<Diagnostic> },
}

fn summary(problems: &[Diagnostic]) -> String {
    let mut text = problems
        .iter()
        .take(3)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if problems.len() > 3 {
        text.push_str(&format!("; and {} more", problems.len() - 3));
    }
    text
}

/// Checks and compiles a policy text: what the gateway does at start-up and on reload.
/// Errors carry every problem with its JSON path and line:column.
pub fn load(text: &str) -> Result<CompiledPolicy, PolicyError> {
    let report = check(text, None);
    match report.policy {
        Some(policy) if report.is_valid() => CompiledPolicy::compile(policy),
        _ => Err(PolicyError::Invalid {
            problems: report.errors().cloned().collect(),
        }),
    }
}

/// [`load`] from a file.
pub fn load_file(path: &Path) -> Result<CompiledPolicy, PolicyError> {
    let text = fs_err::read_to_string(path).map_err(|source| PolicyError::Read {
        path: path.to_owned(),
        source,
    })?;
    load(&text)
}

/// Pretty JSON with object keys sorted at every depth and a trailing newline: how
/// generated policies and the schema are written, so output is byte-for-byte stable.
pub fn to_pretty_sorted(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(&sort_keys(value)).unwrap_or_default();
    text.push('\n');
    text
}

fn sort_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(key, value)| (key.clone(), sort_keys(value)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sort_keys).collect()),
        scalar => scalar.clone(),
    }
}

/// A policy as the generator writes it.
pub fn policy_text(policy: &Policy) -> String {
    to_pretty_sorted(&serde_json::to_value(policy).unwrap_or(Value::Null))
}

/// A dry-run call for `policy explain`.
#[derive(Debug, Clone)]
pub struct ExplainRequest<'a> {
    pub tool: &'a str,
    pub arguments: &'a Value,
    pub grant: Option<&'a str>,
    pub session: Option<&'a str>,
    pub definition_hash: Option<&'a str>,
    /// Make this many identical calls in the same instant and report the last, to see
    /// where limits start refusing. At least 1.
    pub repeat: u32,
    pub now: time::OffsetDateTime,
}

/// What the gateway would do with a call, and the steps that led there.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub tool: String,
    pub verdict: Verdict,
    pub rule: String,
    pub message: String,
    /// What the agent would read for a refusal (`null` when allowed).
    pub refusal: Option<String>,
    /// Which call of `repeat` this is.
    pub call: u32,
    pub steps: Vec<Step>,
}

/// Runs the engine on a call against fresh in-memory counters. The CLI's `policy explain`
/// is this function and a printer; it has no logic of its own.
pub fn explain(policy: &CompiledPolicy, request: &ExplainRequest<'_>) -> Explanation {
    let counters = InMemoryCounters::new();
    let context = CallContext {
        grant: request.grant,
        session: request.session,
        now: request.now,
        definition_hash: request.definition_hash,
        definition_parts: None,
    };
    let repeat = request.repeat.max(1);
    let mut call = 0;
    loop {
        call += 1;
        let mut steps = Vec::new();
        let decision = policy.decide_traced(
            request.tool,
            request.arguments,
            &context,
            &counters,
            &mut steps,
        );
        // Earlier calls keep their units, as forwarded calls that succeeded would.
        let Decision {
            verdict,
            rule,
            message,
            reservation,
        } = decision;
        drop(reservation);
        if call == repeat || !matches!(verdict, Verdict::Allow | Verdict::NeedsApproval) {
            let refusal = match verdict {
                Verdict::Allow => None,
                Verdict::Hidden => Some(format!(
                    "JSON-RPC error -32602: unknown tool `{}`",
                    request.tool
                )),
                Verdict::Deny | Verdict::NeedsApproval => {
                    Some(format!("[POLICY DENIED] {rule}: {message}"))
                }
            };
            return Explanation {
                tool: request.tool.to_owned(),
                verdict,
                rule,
                message,
                refusal,
                call,
                steps,
            };
        }
    }
}
