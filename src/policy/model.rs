//! The policy file format (`policy.json`) as serde types. The JSON Schema in
//! `data/policy.schema.json` is generated from these types (`mcpwarden policy schema`), so
//! the types are the one source of truth for what a policy may contain.
//!
//! Unknown fields are rejected everywhere: a misspelt `deny_iff` must be an error, not a
//! rule silently dropped from a security policy.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The only format version this mcpwarden reads and writes.
pub const FORMAT_VERSION: &str = "1";

/// A whole policy for one MCP server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "mcpwarden policy",
    description = "A default-deny policy for the tools of one MCP server, enforced by `mcpwarden gateway`."
)]
pub struct Policy {
    /// The JSON Schema this file follows, for editors. Ignored by mcpwarden.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Format version; always "1".
    pub version: String,
    /// What happens to a tool the policy does not name.
    pub default: DefaultAction,
    /// Tools removed from `tools/list` and refused as unknown if called anyway. `"*"` hides every tool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hide: Vec<String>,
    /// Rules that apply to every call, before the tool's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_tools: Option<AllTools>,
    /// Rules per tool, by exact, case-sensitive tool name. A tool named here with `{}` is allowed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tools: BTreeMap<String, ToolRule>,
    /// mcpwarden extension: where the policy came from and why each tool got its rule.
    #[serde(
        rename = "x-mcpwarden",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub metadata: Option<Metadata>,
}

/// `allow` or `deny`, for tools the policy does not name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DefaultAction {
    Allow,
    Deny,
}

/// Rules for every tool.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AllTools {
    /// Limits every call counts against, in addition to the tool's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub limits: Vec<Limit>,
}

/// The rule for one tool. Every part is optional; `{}` allows the tool as it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolRule {
    /// Rate limits; a call must fit in all of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub limits: Vec<Limit>,
    /// Conditions that must all hold, or the call is refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub require: Vec<Condition>,
    /// Refusal rules: each refuses the call when all its conditions hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny_if: Vec<DenyRule>,
    /// mcpwarden extension: the tool's definition hash (`sha256:` and 64 hex digits). The
    /// gateway refuses the tool while the server's definition hashes to something else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^sha256:[0-9a-f]{64}$"))]
    pub pin: Option<String>,
    /// mcpwarden extension: a short hash of each part of the pinned definition (title,
    /// description, input schema, annotations), so a refusal can say what changed. Written
    /// with `pin`; the gateway enforces only `pin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_parts: Option<Box<crate::model::PinParts>>,
    /// mcpwarden extension: a person must approve each call (through MCP elicitation when
    /// the client supports it); otherwise the call is refused with this message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
}

/// A rate limit: at most `max` calls in any span of one `window` (the window slides, so no
/// burst passes across a minute or day boundary), counted per `scope`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// Counter name; tools naming the same counter share it (with the same window and scope).
    pub counter: String,
    pub window: Window,
    /// How many calls the window allows; at least 1.
    pub max: u64,
    pub scope: Scope,
}

/// How long the sliding window is: 60 seconds, 3,600 seconds or 86,400 seconds.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Window {
    Minute,
    Hour,
    Day,
}

impl Window {
    pub fn seconds(self) -> i64 {
        match self {
            Window::Minute => 60,
            Window::Hour => 3_600,
            Window::Day => 86_400,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Window::Minute => "minute",
            Window::Hour => "hour",
            Window::Day => "day",
        }
    }
}

/// Who shares a count: one credential (`grant`), one MCP session, or everyone (`global`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Grant,
    Session,
    Global,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Grant => "grant",
            Scope::Session => "session",
            Scope::Global => "global",
        }
    }

    /// How many callers share one count: a session lives inside a grant, so a per-session
    /// limit lets a grant make more calls than a per-grant one. Higher is stricter.
    pub fn strictness(self) -> u8 {
        match self {
            Scope::Session => 0,
            Scope::Grant => 1,
            Scope::Global => 2,
        }
    }
}

/// One test on the call's arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// `args.` followed by a dot-separated path into the arguments; a numeric segment
    /// indexes an array.
    #[schemars(regex(pattern = r"^args(\.[^.]+)+$"))]
    pub path: String,
    pub op: Op,
    /// The operand: an array for `in`/`not_in`, a number for `lt`..`gte`, a regular
    /// expression for `regex`, a boolean (default true) for `exists`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// Condition operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Eq,
    Neq,
    In,
    NotIn,
    Lt,
    Lte,
    Gt,
    Gte,
    Regex,
    Contains,
    Exists,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Neq => "neq",
            Op::In => "in",
            Op::NotIn => "not_in",
            Op::Lt => "lt",
            Op::Lte => "lte",
            Op::Gt => "gt",
            Op::Gte => "gte",
            Op::Regex => "regex",
            Op::Contains => "contains",
            Op::Exists => "exists",
        }
    }
}

/// Refuses a call when all `conditions` hold; an empty list always refuses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DenyRule {
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The text the agent reads after `[POLICY DENIED]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_deny: Option<String>,
}

/// mcpwarden extension: a person approves each call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// What the approver is asked, and what the agent reads if no approver is available.
    pub message: String,
}

/// mcpwarden extension (`x-mcpwarden`): provenance of a generated policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// `mcpwarden <version>` that wrote the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<String>,
    /// The server's canonical name in the catalogue; `policy check` uses it to check
    /// argument paths against the tools' schemas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// The classifier version(s) whose verdicts the rules follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier_version: Option<String>,
    /// One line per tool saying why it got its rule (or none).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reasons: BTreeMap<String, String>,
}

/// The JSON Schema of the policy format, as checked in at `data/policy.schema.json`.
pub fn json_schema() -> Value {
    schemars::schema_for!(Policy).to_value()
}

/// The schema as the checked-in file holds it: pretty, sorted keys, trailing newline.
pub fn json_schema_text() -> String {
    super::to_pretty_sorted(&json_schema())
}
