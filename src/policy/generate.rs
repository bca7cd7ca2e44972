//! Generating a recommended default-deny policy for a server from its tools'
//! classifications (ARCHITECTURE.md § Recommended rules).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::engine::compile_regex;
use super::model::{
    Approval, Condition, DefaultAction, DenyRule, FORMAT_VERSION, Limit, Metadata, Op, Policy,
    Scope, ToolRule, Window,
};
use crate::catalog::ServerCard;
use crate::model::{Category, Classification, Risk, ToolDef};

/// What the approver is asked for a Financial tool, and what the agent reads when no
/// approver is available.
pub const FINANCIAL_APPROVAL: &str = "Requires human approval.";
/// The same for a tool that returns secrets, credentials or the environment.
pub const SECRETS_APPROVAL: &str =
    "Returns secrets or credentials: requires human approval for each call.";
/// The same for a Critical tool that is neither (arbitrary code, shell or SQL).
pub const CRITICAL_APPROVAL: &str =
    "Critical risk (arbitrary code, commands or queries): requires human approval for each call.";
/// Calls per minute per grant for Write tools (and Read tools of High risk).
pub const WRITE_PER_MINUTE: u64 = 30;
/// Calls per minute per grant for Execute tools below Critical.
pub const EXECUTE_PER_MINUTE: u64 = 10;

/// The signals that say a tool hands secrets to its caller (data/rules/risk.toml).
const RETURNS_SECRETS: &str = "reads-secrets";
/// A tool named for secrets: it returns them when it is a Read tool.
const HANDLES_SECRETS: &str = "handles-secrets";

/// What the generator recommends for one classified tool.
#[derive(Debug, Clone, PartialEq)]
pub enum Recommendation {
    /// List it in `hide`.
    Hide { reason: String },
    /// Configure it with this rule.
    Rule { rule: ToolRule, reason: String },
}

impl Recommendation {
    pub fn reason(&self) -> &str {
        match self {
            Recommendation::Hide { reason } | Recommendation::Rule { reason, .. } => reason,
        }
    }
}

/// Whether the classification says the tool returns secrets, credentials or the process
/// environment.
pub fn returns_secrets(classification: &Classification) -> bool {
    classification.signals.iter().any(|signal| {
        &*signal.name == RETURNS_SECRETS
            || (&*signal.name == HANDLES_SECRETS && classification.category == Category::Read)
    })
}

/// The rule for one tool by its verdict (the table in ARCHITECTURE.md § "Recommended
/// rules"), first match wins: Destructive → hidden; Financial, secret-returning and any
/// other Critical tool → a person approves each call; Execute → 10 calls per minute per
/// grant; Write and High Read → 30; other Read → allowed. Argument checks are read from
/// its input schema and its definition is pinned.
pub fn recommend(tool: &ToolDef, classification: &Classification) -> Recommendation {
    let verdict = format!("{} ({})", classification.category, classification.risk);
    let rate_limit = |max: u64| ToolRule {
        limits: vec![Limit {
            counter: format!("{}_rate", tool.name),
            window: Window::Minute,
            max,
            scope: Scope::Grant,
        }],
        ..ToolRule::default()
    };
    let approval = |message: &str| ToolRule {
        approval: Some(Approval {
            message: message.to_owned(),
        }),
        ..ToolRule::default()
    };
    let (mut rule, action) = match (classification.category, classification.risk) {
        (Category::Destructive, _) => {
            return Recommendation::Hide {
                reason: format!("{verdict}: hidden; it cannot be listed or called."),
            };
        }
        (Category::Financial, _) => (
            approval(FINANCIAL_APPROVAL),
            "a person approves each call (it moves money)".to_owned(),
        ),
        _ if returns_secrets(classification) => (
            approval(SECRETS_APPROVAL),
            "a person approves each call (it returns secrets)".to_owned(),
        ),
        (_, Risk::Critical) => (
            approval(CRITICAL_APPROVAL),
            "a person approves each call (Critical)".to_owned(),
        ),
        (Category::Execute, _) => (
            rate_limit(EXECUTE_PER_MINUTE),
            format!("at most {EXECUTE_PER_MINUTE} calls per minute per grant"),
        ),
        (Category::Write, _) | (Category::Read, Risk::High) => (
            rate_limit(WRITE_PER_MINUTE),
            format!("at most {WRITE_PER_MINUTE} calls per minute per grant"),
        ),
        (Category::Read, _) => (ToolRule::default(), "allowed as it is".to_owned()),
    };
    let mut reason = format!("{verdict}: {action}");
    let checks = add_schema_constraints(&tool.input_schema, &mut rule);
    if !checks.is_empty() {
        reason.push_str(&format!(
            "; argument checks from the schema: {}",
            checks.join(", ")
        ));
    }
    reason.push('.');
    let hashes = tool.definition_hashes();
    rule.pin = Some(hashes.pin);
    rule.pin_parts = Some(Box::new(hashes.parts));
    Recommendation::Rule { rule, reason }
}

/// The recommended rule as JSON, as `catalog show` prints it: the tool's rule object, or
/// `{"hide": true}` for a tool the policy should hide.
pub fn recommended_rule(tool: &ToolDef, classification: &Classification) -> Value {
    match recommend(tool, classification) {
        Recommendation::Hide { .. } => json!({"hide": true}),
        Recommendation::Rule { rule, .. } => serde_json::to_value(rule).unwrap_or(Value::Null),
    }
}

/// Adds the checks that are safe to derive from the top-level properties of the schema:
/// `enum` → `in`, `maxLength` → a length refusal, `minimum`/`maximum` → range refusals.
/// Optional arguments get `deny_if` rules that only fire when the argument is present, so
/// leaving it out stays allowed. Returns a word for each check added.
fn add_schema_constraints(schema: &Value, rule: &mut ToolRule) -> Vec<String> {
    let mut added = Vec::new();
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return added;
    };
    let required: BTreeSet<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (name, property) in properties {
        // A dot in a name cannot be written as a condition path.
        if name.is_empty() || name.contains('.') {
            continue;
        }
        let path = format!("args.{name}");
        let condition = |op: Op, value: Value| Condition {
            path: path.clone(),
            op,
            value: Some(value),
        };
        if let Some(values) = property.get("enum").and_then(Value::as_array) {
            let scalars = !values.is_empty()
                && values
                    .iter()
                    .all(|value| value.is_string() || value.is_number() || value.is_boolean());
            if scalars {
                if required.contains(name.as_str()) {
                    rule.require
                        .push(condition(Op::In, Value::Array(values.clone())));
                } else {
                    rule.deny_if.push(DenyRule {
                        conditions: vec![
                            Condition {
                                path: path.clone(),
                                op: Op::Exists,
                                value: Some(Value::Bool(true)),
                            },
                            condition(Op::NotIn, Value::Array(values.clone())),
                        ],
                        on_deny: Some(format!(
                            "`{name}` must be one of {}.",
                            Value::Array(values.clone())
                        )),
                    });
                }
                added.push(format!("`{name}` in its enum"));
            }
        }
        if let Some(max_length) = property.get("maxLength").and_then(Value::as_u64) {
            // "At least max+1 characters" as a pattern: there is no length op in the format.
            let pattern = format!("^(?s:.){{{}}}", max_length.saturating_add(1));
            if compile_regex(&pattern).is_ok() {
                rule.deny_if.push(DenyRule {
                    conditions: vec![condition(Op::Regex, Value::String(pattern))],
                    on_deny: Some(format!("`{name}` is longer than {max_length} characters.")),
                });
                added.push(format!("`{name}` at most {max_length} characters"));
            } else {
                added.push(format!(
                    "`{name}` maxLength {max_length} too long to express as a pattern, not checked"
                ));
            }
        }
        for (keyword, op, word) in [("maximum", Op::Gt, "above"), ("minimum", Op::Lt, "below")] {
            if let Some(bound) = property.get(keyword).filter(|bound| bound.is_number()) {
                rule.deny_if.push(DenyRule {
                    conditions: vec![condition(op, bound.clone())],
                    on_deny: Some(format!("`{name}` is {word} {bound}.")),
                });
                added.push(format!("`{name}` {keyword} {bound}"));
            }
        }
    }
    added
}

/// A generated policy, and the tools that were left to the default because nothing has
/// classified them yet.
#[derive(Debug, Clone)]
pub struct Generated {
    pub policy: Policy,
    pub unclassified: Vec<String>,
}

/// Generates the policy for one server as the catalogue holds it.
pub fn generate(server: &ServerCard) -> Generated {
    generate_for(
        &server.record.name,
        server
            .tools
            .iter()
            .map(|card| (&card.tool, card.classification.as_ref())),
    )
}

/// Generates a policy from tools and their classifications (`None`: not classified yet).
pub fn generate_for<'a>(
    server_name: &str,
    tools: impl IntoIterator<Item = (&'a ToolDef, Option<&'a Classification>)>,
) -> Generated {
    let mut policy = Policy {
        schema: None,
        version: FORMAT_VERSION.to_owned(),
        default: DefaultAction::Deny,
        hide: Vec::new(),
        all_tools: None,
        tools: Default::default(),
        metadata: None,
    };
    let mut metadata = Metadata {
        generator: Some(format!("mcpwarden {}", env!("CARGO_PKG_VERSION"))),
        server: Some(server_name.to_owned()),
        ..Metadata::default()
    };
    let mut versions = BTreeSet::new();
    let mut unclassified = Vec::new();
    for (tool, classification) in tools {
        let Some(classification) = classification else {
            metadata.reasons.insert(
                tool.name.clone(),
                "not classified yet: denied by the default until it is classified and the policy regenerated.".to_owned(),
            );
            unclassified.push(tool.name.clone());
            continue;
        };
        versions.insert(classification.version.clone());
        let recommendation = recommend(tool, classification);
        metadata
            .reasons
            .insert(tool.name.clone(), recommendation.reason().to_owned());
        match recommendation {
            Recommendation::Hide { .. } => policy.hide.push(tool.name.clone()),
            Recommendation::Rule { rule, .. } => {
                policy.tools.insert(tool.name.clone(), rule);
            }
        }
    }
    policy.hide.sort();
    policy.hide.dedup();
    unclassified.sort();
    if !versions.is_empty() {
        metadata.classifier_version = Some(versions.into_iter().collect::<Vec<_>>().join(", "));
    }
    policy.metadata = Some(metadata);
    Generated {
        policy,
        unclassified,
    }
}

/// A file name for a server's policy: its name with anything but letters, digits, `.`,
/// `-` and `_` turned into `_` (so `io.github.o/r` → `io.github.o_r.json`).
pub fn policy_file_name(server_name: &str) -> String {
    let stem: String = server_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let stem = stem.trim_start_matches('.');
    format!("{}.json", if stem.is_empty() { "server" } else { stem })
}
