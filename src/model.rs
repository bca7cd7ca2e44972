//! The typed hand-offs between pipeline stages: what a crawl found (`ServerRecord`),
//! what extraction read (`ToolDef`) and what the classifier decided (`Classification`).
//!
//! These are internal types; wire formats (JSON Lines export, `--json`) have their own
//! types in the modules that own them and convert from these.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// One MCP server as the crawl (or an import) saw it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerRecord {
    /// Canonical name: the registry name (`io.github.owner/repo`) or `owner/repo`.
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    /// Normalised repository URL, when known.
    pub repository: Option<String>,
    /// Package references as purls (`pkg:npm/%40scope/name@1.2.3`, `pkg:pypi/name`).
    pub packages: Vec<String>,
    /// Remote endpoints the server can be reached at.
    pub remotes: Vec<Remote>,
    pub language: Option<String>,
    pub license: Option<String>,
    pub stars: Option<u64>,
    /// RFC 3339 time of the last commit or release, when known.
    pub last_commit: Option<String>,
    /// Whether the repository is archived (read-only, no longer maintained), when a
    /// source says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived: Option<bool>,
    /// Which sources saw this server.
    pub sources: Vec<SourceRef>,
}

/// A server run in the sandbox and asked for its tools, compared with what its source
/// showed. Stored with the server; a difference is itself a finding (a server listing
/// tools its source does not show, or the other way round).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveListing {
    /// RFC 3339 time of the run.
    pub at: String,
    /// False only when the user opted out of the sandbox.
    pub sandboxed: bool,
    /// How many tools it listed; `None` when it did not list (see `failure`).
    pub listed: Option<usize>,
    /// Why it did not start or list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Tools the source registers that the running server did not list (gated on settings
    /// or capabilities, or dead code).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub only_static: Vec<String>,
    /// Tools the running server listed that static reading did not find.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub only_live: Vec<String>,
    /// Tools found both ways whose definitions differ (the live one is stored).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub differ: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remote {
    /// Transport, e.g. `streamable-http` or `sse`.
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
}

/// A sighting of a server by one crawl source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRef {
    /// Source name: `registry`, `github`, `npm`, `pypi`, `list`, `local`, `import`.
    pub source: String,
    /// The identifier the source uses for the server (registry id, repo full name, package name).
    pub id: String,
    /// RFC 3339 time the source last saw the server.
    pub seen_at: Option<String>,
}

/// One tool a server defines, as extraction read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDef {
    pub name: String,
    pub title: Option<String>,
    pub description: String,
    /// The tool's input JSON Schema; `{"type":"object"}` when nothing is known.
    pub input_schema: Value,
    /// MCP tool annotations (`readOnlyHint`, `destructiveHint`, ...), when any were found.
    pub annotations: Option<Value>,
    pub annotation_source: AnnotationSource,
    pub method: ExtractionMethod,
    /// Where the definition was found, `path:line`.
    pub location: Option<String>,
    /// 0.0 ..= 1.0: how sure extraction is that this definition is complete and right.
    pub confidence: f64,
}

impl ToolDef {
    /// A tool with only a name and description, as a registry listing or an import gives it.
    pub fn new(name: impl Into<String>, description: impl Into<String>) -> Self {
        ToolDef {
            name: name.into(),
            title: None,
            description: description.into(),
            input_schema: serde_json::json!({"type": "object"}),
            annotations: None,
            annotation_source: AnnotationSource::Absent,
            method: ExtractionMethod::Import,
            location: None,
            confidence: 1.0,
        }
    }

    /// The definition hash that policies pin: see [`definition_hash`].
    pub fn definition_hash(&self) -> String {
        self.definition_hashes().pin
    }

    /// The pin with its part hashes: see [`definition_hashes`].
    pub fn definition_hashes(&self) -> DefinitionHashes {
        definition_hashes(
            &self.name,
            self.title.as_deref(),
            &self.description,
            &self.input_schema,
            self.annotations.as_ref(),
        )
    }

    /// Parameter rows read from the input schema's `properties`, in schema order.
    pub fn parameters(&self) -> Vec<Parameter> {
        parameters_of(&self.input_schema)
    }
}

/// One input parameter, read from a JSON Schema `properties` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parameter {
    pub name: String,
    /// JSON Schema type as written (`string`, `integer`, `string|null`, `enum`), or `any`.
    #[serde(rename = "type")]
    pub kind: String,
    pub required: bool,
    pub description: Option<String>,
}

/// Reads the top-level parameters of an input schema. Never fails: a schema that is not
/// an object, or has no `properties`, has no parameters.
pub fn parameters_of(schema: &Value) -> Vec<Parameter> {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    properties
        .iter()
        .map(|(name, property)| Parameter {
            name: name.clone(),
            kind: schema_type_name(property),
            required: required.contains(&name.as_str()),
            description: property
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
        .collect()
}

fn schema_type_name(property: &Value) -> String {
    match property.get("type") {
        Some(Value::String(kind)) => kind.clone(),
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("|"),
        _ if property.get("enum").is_some() => "enum".to_owned(),
        _ if property.get("anyOf").is_some() || property.get("oneOf").is_some() => {
            "union".to_owned()
        }
        _ => "any".to_owned(),
    }
}

/// Where a tool's annotations came from. An SDK's implicit defaults are not declarations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnnotationSource {
    Declared,
    SdkDefault,
    Absent,
}

/// How a tool definition was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExtractionMethod {
    StaticTs,
    StaticPy,
    StaticGo,
    StaticRust,
    Manifest,
    Registry,
    Live,
    Import,
}

macro_rules! string_enum {
    ($ty:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = String;

            /// Case-insensitive, so `--risk high` works.
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                $ty::ALL
                    .iter()
                    .copied()
                    .find(|value| value.as_str().eq_ignore_ascii_case(text))
                    .ok_or_else(|| {
                        let names: Vec<&str> = $ty::ALL.iter().map(|value| value.as_str()).collect();
                        format!("`{text}` is not one of {}", names.join(", "))
                    })
            }
        }
    };
}

string_enum!(AnnotationSource { Declared = "declared", SdkDefault = "sdk-default", Absent = "absent" });
string_enum!(ExtractionMethod {
    StaticTs = "static-ts",
    StaticPy = "static-py",
    StaticGo = "static-go",
    StaticRust = "static-rust",
    Manifest = "manifest",
    Registry = "registry",
    Live = "live",
    Import = "import",
});

/// What a tool can do. See ARCHITECTURE.md § Taxonomy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Category {
    Read,
    Write,
    Execute,
    Destructive,
    Financial,
}

string_enum!(Category {
    Read = "Read",
    Write = "Write",
    Execute = "Execute",
    Destructive = "Destructive",
    Financial = "Financial",
});

impl Category {
    /// The risk a category starts at before signals move it.
    pub fn baseline_risk(self) -> Risk {
        match self {
            Category::Read => Risk::Low,
            Category::Write => Risk::Medium,
            Category::Execute => Risk::High,
            Category::Destructive | Category::Financial => Risk::Critical,
        }
    }
}

/// How much harm a call can do. Ordered: `Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Risk {
    Low,
    Medium,
    High,
    Critical,
}

string_enum!(Risk { Low = "Low", Medium = "Medium", High = "High", Critical = "Critical" });

/// Text that is usually one of the rules' own strings (a rule id, a signal name, the
/// classifier version), borrowed for the life of the process instead of copied into every
/// verdict; verdicts read back from the catalogue own theirs. It serialises as a plain
/// string.
pub type RuleText = std::borrow::Cow<'static, str>;

/// The classifier's verdict on one tool.
///
/// The strings every verdict shares with the rules (rule ids, signal names, finding kinds
/// and messages, the version) are [`RuleText`]: copying them was most of the heap
/// allocations per tool, and freeing 100,000 verdicts' worth of them a visible share of a
/// parallel run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    pub category: Category,
    pub risk: Risk,
    /// Named pieces of evidence that moved the category or the risk.
    pub signals: Vec<Signal>,
    /// One or two sentences for a person, quoting the words that decided it.
    pub rationale: String,
    /// Ids of the rules that fired.
    pub rule_ids: Vec<RuleText>,
    /// Description-poisoning and annotation findings, separate from the category.
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// 0.0 ..= 1.0: low when the definition gave little to go on.
    pub confidence: f64,
    /// Classifier version: a hash of the rules that produced this.
    pub version: RuleText,
}

/// A named piece of evidence, e.g. `shell-execution` with the words that showed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    pub name: RuleText,
    /// The words of the definition that raised it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<RuleText>,
}

/// A finding about the definition itself (poisoning, annotation mismatch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// e.g. `hidden-instructions`, `annotation-mismatch`.
    pub kind: RuleText,
    pub severity: Risk,
    /// The text of the definition that raised it.
    pub quote: String,
    pub message: RuleText,
}

/// The hash a policy pins for a tool: SHA-256 over the canonical JSON (sorted keys, no
/// whitespace) of the parts of the definition an agent acts on, each in its canonical form
/// ([`canonical_text`], [`canonical_schema`], [`canonical_annotations`]). The gateway
/// computes the same hash from an upstream's `tools/list`, and a tool read from source
/// hashes equal to the same tool listed live wherever the source determines it.
pub fn definition_hash(
    name: &str,
    title: Option<&str>,
    description: &str,
    input_schema: &Value,
    annotations: Option<&Value>,
) -> String {
    definition_hashes(name, title, description, input_schema, annotations).pin
}

/// What a policy pins for one tool: the whole definition's hash ([`definition_hash`]) and
/// a short hash of each part, so a mismatch can say what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionHashes {
    pub pin: String,
    pub parts: PinParts,
}

/// The first 16 hex digits of the SHA-256 of each canonical part of a definition. Only for
/// saying what changed; the full `pin` is what the gateway enforces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PinParts {
    pub title: String,
    pub description: String,
    pub input_schema: String,
    pub annotations: String,
}

impl PinParts {
    /// The names of the parts that differ between `self` (pinned) and `now`.
    pub fn changed(&self, now: &PinParts) -> Vec<&'static str> {
        let mut changed = Vec::new();
        if self.title != now.title {
            changed.push("title");
        }
        if self.description != now.description {
            changed.push("description");
        }
        if self.input_schema != now.input_schema {
            changed.push("input schema");
        }
        if self.annotations != now.annotations {
            changed.push("annotations");
        }
        changed
    }
}

/// The name and hashes of one tool as a server lists it in `tools/list` (`None` without a
/// name): what the gateway checks pins against and `policy pin` records.
pub fn listed_definition_hashes(tool: &Value) -> Option<(&str, DefinitionHashes)> {
    let name = tool.get("name").and_then(Value::as_str)?;
    let no_schema = Value::Null;
    let hashes = definition_hashes(
        name,
        tool.get("title").and_then(Value::as_str),
        tool.get("description")
            .and_then(Value::as_str)
            .unwrap_or_default(),
        tool.get("inputSchema").unwrap_or(&no_schema),
        tool.get("annotations"),
    );
    Some((name, hashes))
}

/// [`definition_hash`] with the part hashes beside it.
pub fn definition_hashes(
    name: &str,
    title: Option<&str>,
    description: &str,
    input_schema: &Value,
    annotations: Option<&Value>,
) -> DefinitionHashes {
    /// Fields in sorted order, so the derived serialisation is already canonical.
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Definition<'a> {
        annotations: Option<Canonical<'a>>,
        description: &'a str,
        input_schema: Canonical<'a>,
        name: &'a str,
        title: Option<&'a str>,
    }
    let title = title.map(canonical_text).filter(|title| !title.is_empty());
    let description = canonical_text(description);
    let input_schema = canonical_schema(input_schema);
    let annotations = annotations.and_then(canonical_annotations);
    let definition = Definition {
        annotations: annotations.as_ref().map(Canonical),
        description: &description,
        input_schema: Canonical(&input_schema),
        name,
        title: title.as_deref(),
    };
    DefinitionHashes {
        pin: format!("sha256:{}", sha256_hex(&definition)),
        parts: PinParts {
            title: short_hash(&title),
            description: short_hash(&description),
            input_schema: short_hash(&Canonical(&input_schema)),
            annotations: short_hash(&annotations.as_ref().map(Canonical)),
        },
    }
}

/// The first 16 hex digits of [`sha256_hex`].
fn short_hash(value: &impl Serialize) -> String {
    let mut hex = sha256_hex(value);
    hex.truncate(16);
    hex
}

/// Text as the pin sees it: trimmed, every run of whitespace one space. Static reading keeps
/// a template literal's indentation and line breaks where a server may dedent or rewrap
/// them; no word an agent reads is lost.
pub fn canonical_text(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A JSON Schema as the pin sees it. What only labels or restates the schema is left out,
/// because servers add it at run time where the source does not say it:
/// - `$schema` (the dialect: the TypeScript SDK adds draft-07's on every tool);
/// - `title` keywords (pydantic titles every property and the arguments object after
///   their names);
/// - `additionalProperties: false` (zod-to-json-schema adds it to every object);
/// - empty `required` and `properties` (the same as leaving them out).
///
/// Descriptions are compared as [`canonical_text`]; `required` and `type` lists as sets.
/// Everything else, including every description, enum, default and constraint, counts.
pub fn canonical_schema(schema: &Value) -> Value {
    let Value::Object(map) = schema else {
        return match schema {
            Value::Array(items) => Value::Array(items.iter().map(canonical_schema).collect()),
            other => other.clone(),
        };
    };
    let mut out = serde_json::Map::with_capacity(map.len());
    for (key, value) in map {
        let kept = match key.as_str() {
            "$schema" | "title" => continue,
            "additionalProperties" if *value == Value::Bool(false) => continue,
            "required" | "properties" if is_empty(value) => continue,
            "description" => match value {
                Value::String(text) => Value::String(canonical_text(text)),
                other => other.clone(),
            },
            "required" | "type" => match value {
                Value::Array(items) => {
                    let mut items = items.clone();
                    items.sort_by_key(ToString::to_string);
                    Value::Array(items)
                }
                other => other.clone(),
            },
            // Maps from names to schemas: the names are data, the values schemas.
            "properties" | "patternProperties" | "$defs" | "definitions" | "dependentSchemas" => {
                match value {
                    Value::Object(named) => Value::Object(
                        named
                            .iter()
                            .map(|(name, schema)| (name.clone(), canonical_schema(schema)))
                            .collect(),
                    ),
                    other => other.clone(),
                }
            }
            // Values, not schemas: kept exactly.
            "enum" | "const" | "default" | "examples" => value.clone(),
            _ => canonical_schema(value),
        };
        out.insert(key.clone(), kept);
    }
    Value::Object(out)
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

/// Annotations as the pin sees them: `{}` and `null` are the same as none.
pub fn canonical_annotations(annotations: &Value) -> Option<Value> {
    match annotations {
        Value::Null => None,
        Value::Object(map) if map.is_empty() => None,
        other => Some(other.clone()),
    }
}

/// Lower-case hex SHA-256 of `value`'s compact JSON, streamed into the hasher without an
/// intermediate string. Wrap `serde_json::Value`s in [`Canonical`] to make it key-order-free.
pub fn sha256_hex(value: &impl Serialize) -> String {
    struct HashWriter(Sha256);
    impl std::io::Write for HashWriter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.update(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut writer = HashWriter(Sha256::new());
    // Writing into a hasher cannot fail, and our values serialise without error (string
    // keys only), so an error here would be a bug in serde_json itself.
    let _ = serde_json::to_writer(&mut writer, value);
    let digest = writer.0.finalize();
    let mut hex = String::with_capacity(64);
    for byte in digest {
        use std::fmt::Write;
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// Serialises a JSON value with object keys sorted at every depth. serde_json keeps
/// insertion order (we enable `preserve_order` so parameters print as authors wrote them),
/// so hashing needs its own canonical form; no small crate does exactly this.
#[derive(Debug, Clone, Copy)]
pub struct Canonical<'a>(pub &'a Value);

impl Serialize for Canonical<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                let mut out = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    out.serialize_entry(key, &Canonical(value))?;
                }
                out.end()
            }
            Value::Array(items) => {
                let mut out = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    out.serialize_element(&Canonical(item))?;
                }
                out.end()
            }
            scalar => scalar.serialize(serializer),
        }
    }
}

/// The key tool and server names are matched on: lower case, with `-` and `.` read as `_`,
/// so `send_message`, `Send-Message` and `send.message` are one key.
pub fn name_key(name: &str) -> String {
    let mut key = String::with_capacity(name.len());
    name_key_into(name, &mut key);
    key
}

/// [`name_key`] written into `key` (cleared first), so a hot loop can reuse one buffer.
pub(crate) fn name_key_into(name: &str, key: &mut String) {
    key.clear();
    let name = trim(name);
    // The usual parameter name is ASCII with no `-` or `.`: one copy, lowered in place,
    // instead of a character at a time (the classifier does this for every parameter).
    if name
        .bytes()
        .all(|byte| byte.is_ascii() && byte != b'-' && byte != b'.')
    {
        key.push_str(name);
        key.make_ascii_lowercase();
        return;
    }
    key.extend(name.chars().map(|c| match c {
        '-' | '.' => '_',
        c => c.to_ascii_lowercase(),
    }));
}

/// `text.trim()`, but a text that begins and ends with a printable ASCII character (nearly
/// every name and quote) is returned as it is without decoding characters from both ends.
pub(crate) fn trim(text: &str) -> &str {
    match (text.as_bytes().first(), text.as_bytes().last()) {
        (Some(first), Some(last)) if first.is_ascii_graphic() && last.is_ascii_graphic() => text,
        _ => text.trim(),
    }
}

/// Splits an identifier into lower-case words: camelCase, snake_case, kebab-case, dotted.
/// `getHTTPResponse_v2` → `get http response v2`.
pub fn split_identifier(name: &str) -> Vec<String> {
    let mut words = Words::default();
    words.split(name);
    words.iter().map(str::to_owned).collect()
}

/// The words of one identifier, as [`split_identifier`] splits it, kept in two reusable
/// buffers: the classifier splits every tool and parameter name, and a `Vec<String>` per
/// name was a measurable share of its time.
#[derive(Debug, Default)]
pub(crate) struct Words {
    text: String,
    /// Byte ranges of the words in `text`.
    spans: Vec<(usize, usize)>,
}

impl Words {
    /// Replaces the words with those of `name`.
    pub(crate) fn split(&mut self, name: &str) {
        self.text.clear();
        self.spans.clear();
        if name.is_ascii() {
            self.split_ascii(name);
            return;
        }
        let mut start = 0;
        let mut previous: Option<char> = None;
        let mut chars = name.chars().peekable();
        while let Some(c) = chars.next() {
            let before = previous.replace(c);
            if !c.is_alphanumeric() {
                if self.text.len() > start {
                    self.spans.push((start, self.text.len()));
                    start = self.text.len();
                }
                continue;
            }
            let boundary = self.text.len() > start
                && c.is_uppercase()
                && (before.is_some_and(|b| b.is_lowercase() || b.is_ascii_digit())
                    || chars.peek().is_some_and(|next| next.is_lowercase()));
            if boundary {
                self.spans.push((start, self.text.len()));
                start = self.text.len();
            }
            if c.is_ascii() {
                self.text.push(c.to_ascii_lowercase());
            } else {
                self.text.extend(c.to_lowercase());
            }
        }
        if self.text.len() > start {
            self.spans.push((start, self.text.len()));
        }
    }

    /// [`split`](Self::split) for a name that is all ASCII, the usual case: the name is
    /// copied and lowered in one go (separators included, outside every span), then the
    /// words are found byte by byte, without decoding characters or asking Unicode about
    /// their case.
    fn split_ascii(&mut self, name: &str) {
        self.text.push_str(name);
        self.text.make_ascii_lowercase();
        let name = name.as_bytes();
        let mut start: Option<usize> = None;
        for (index, &c) in name.iter().enumerate() {
            if !c.is_ascii_alphanumeric() {
                if let Some(from) = start.take() {
                    self.spans.push((from, index));
                }
                continue;
            }
            let Some(from) = start else {
                start = Some(index);
                continue;
            };
            // An upper-case letter after a lower-case letter or a digit starts a word
            // (`getUser`), and so does the last capital of a run (`HTTPResponse`).
            let boundary = c.is_ascii_uppercase()
                && (name[index - 1].is_ascii_lowercase()
                    || name[index - 1].is_ascii_digit()
                    || name.get(index + 1).is_some_and(u8::is_ascii_lowercase));
            if boundary {
                self.spans.push((from, index));
                start = Some(index);
            }
        }
        if let Some(from) = start {
            self.spans.push((from, name.len()));
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.spans.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &str> {
        self.spans
            .iter()
            .map(|&(start, end)| &self.text[start..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_key_folds_case_and_separators() {
        assert_eq!(name_key("Send-Message"), "send_message");
        assert_eq!(name_key("send.message"), "send_message");
        assert_eq!(name_key("send_message"), "send_message");
    }

    #[test]
    fn split_identifier_handles_every_style() {
        let check = |input: &str, expected: &[&str]| assert_eq!(split_identifier(input), expected);
        check("sendMessage", &["send", "message"]);
        check("send_message", &["send", "message"]);
        check("send-message", &["send", "message"]);
        check("fs.read_file", &["fs", "read", "file"]);
        check("getHTTPResponse_v2", &["get", "http", "response", "v2"]);
        check("", &[]);
    }

    /// The splitter as first written, one `Vec<char>` and `String` per name: the reused
    /// buffers of [`Words`] must give exactly its words.
    fn split_reference(name: &str) -> Vec<String> {
        let mut words = Vec::new();
        let mut current = String::new();
        let chars: Vec<char> = name.chars().collect();
        for (index, &c) in chars.iter().enumerate() {
            if !c.is_alphanumeric() {
                if !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
                continue;
            }
            let boundary = !current.is_empty()
                && c.is_uppercase()
                && (chars[index - 1].is_lowercase()
                    || chars[index - 1].is_ascii_digit()
                    || chars.get(index + 1).is_some_and(|next| next.is_lowercase()));
            if boundary {
                words.push(std::mem::take(&mut current));
            }
            current.extend(c.to_lowercase());
        }
        if !current.is_empty() {
            words.push(current);
        }
        words
    }

    proptest::proptest! {
        #[test]
        fn words_split_as_the_reference_does(name in "[a-zA-Z0-9_.\\- ÄéßİΣσǅ٣]{0,24}", other in "\\PC{0,12}") {
            let mut words = Words::default();
            for text in [&name, &other, &format!("{other}{name}")] {
                words.split(text);
                let got: Vec<&str> = words.iter().collect();
                proptest::prop_assert_eq!(got, split_reference(text));
                proptest::prop_assert_eq!(words.len(), split_reference(text).len());
            }
        }

        /// ASCII names without `-` or `.` take their own path through `name_key_into`.
        #[test]
        fn name_key_as_the_character_mapping_gives(name in "[a-zA-Z0-9_.\\- \t]{0,24}", other in "\\PC{0,12}") {
            for text in [&name, &other, &format!("{name}{other}")] {
                let reference: String = text.trim().chars().map(|c| match c {
                    '-' | '.' => '_',
                    c => c.to_ascii_lowercase(),
                }).collect();
                proptest::prop_assert_eq!(name_key(text), reference);
            }
        }

        /// ASCII names take their own path through `Words::split`.
        #[test]
        fn ascii_words_split_as_the_reference_does(name in "[a-zA-Z0-9_.\\- ]{0,32}") {
            let mut words = Words::default();
            words.split(&name);
            let got: Vec<&str> = words.iter().collect();
            proptest::prop_assert_eq!(got, split_reference(&name));
        }
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let value = serde_json::json!({"b": [{"z": 1, "a": null}], "a": "x"});
        assert_eq!(
            serde_json::to_string(&Canonical(&value)).unwrap(),
            r#"{"a":"x","b":[{"a":null,"z":1}]}"#
        );
    }

    #[test]
    fn definition_hash_is_sha256_of_the_canonical_definition() {
        // Pinned: the gateway and generated policies depend on this exact value.
        let schema = serde_json::json!({"type": "object"});
        let plain: String = sha2::Sha256::digest(
            br#"{"annotations":null,"description":"d","inputSchema":{"type":"object"},"name":"t","title":null}"#,
        )
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
        assert_eq!(
            definition_hash("t", None, "d", &schema, None),
            format!("sha256:{plain}")
        );
    }

    #[test]
    fn definition_hash_ignores_key_order_but_not_content() {
        let a = serde_json::json!({"type": "object", "properties": {"a": {"type": "string"}}});
        let b = serde_json::json!({"properties": {"a": {"type": "string"}}, "type": "object"});
        assert_eq!(
            definition_hash("t", None, "d", &a, None),
            definition_hash("t", None, "d", &b, None)
        );
        assert_ne!(
            definition_hash("t", None, "d", &a, None),
            definition_hash("t", None, "d2", &a, None)
        );
    }

    #[test]
    fn the_pin_ignores_what_servers_add_at_run_time() {
        // As read from source, and as the TypeScript SDK (draft-07 `$schema`, zod's
        // `additionalProperties: false`) and pydantic (titles) list the same tool.
        let source = serde_json::json!({"type": "object",
            "properties": {"title": {"type": "string", "description": "The  title\n   to set"}},
            "required": ["title"]});
        let live = serde_json::json!({"$schema": "http://json-schema.org/draft-07/schema#",
            "title": "set_titleArguments", "type": "object", "additionalProperties": false,
            "properties": {"title": {"title": "Title", "description": "The title to set", "type": "string"}},
            "required": ["title"]});
        assert_eq!(
            definition_hashes("set_title", None, "Sets it.\n", &source, None),
            definition_hashes(
                "set_title",
                Some(""),
                "  Sets it.",
                &live,
                Some(&serde_json::json!({}))
            )
        );
    }

    #[test]
    fn the_pin_sees_every_change_an_agent_would_read() {
        let schema = |property: Value| serde_json::json!({"type": "object", "properties": {"title": property}});
        let base = definition_hashes(
            "t",
            None,
            "d",
            &schema(serde_json::json!({"type": "string"})),
            None,
        );
        let changes = [
            // A property named `title` is a parameter, not a label.
            (
                definition_hashes("t", None, "d", &serde_json::json!({"type": "object"}), None),
                "input schema",
            ),
            (
                definition_hashes(
                    "t",
                    None,
                    "d",
                    &schema(
                        serde_json::json!({"type": "string", "description": "also send ~/.ssh"}),
                    ),
                    None,
                ),
                "input schema",
            ),
            (
                definition_hashes(
                    "t",
                    None,
                    "d",
                    &schema(serde_json::json!({"type": "string", "enum": ["a"]})),
                    None,
                ),
                "input schema",
            ),
            (
                definition_hashes(
                    "t",
                    None,
                    "d and more",
                    &schema(serde_json::json!({"type": "string"})),
                    None,
                ),
                "description",
            ),
            (
                definition_hashes(
                    "t",
                    Some("T"),
                    "d",
                    &schema(serde_json::json!({"type": "string"})),
                    None,
                ),
                "title",
            ),
            (
                definition_hashes(
                    "t",
                    None,
                    "d",
                    &schema(serde_json::json!({"type": "string"})),
                    Some(&serde_json::json!({"readOnlyHint": true})),
                ),
                "annotations",
            ),
        ];
        for (changed, part) in changes {
            assert_ne!(changed.pin, base.pin, "{part}");
            assert_eq!(base.parts.changed(&changed.parts), [part]);
        }
    }

    #[test]
    fn parameters_read_required_and_types() {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {"path": {"type": "string", "description": "File"}, "n": {"type": ["integer", "null"]}},
            "required": ["path"]
        });
        let params = parameters_of(&schema);
        assert_eq!(params.len(), 2);
        assert!(params[0].required);
        assert_eq!(params[1].kind, "integer|null");
        assert!(parameters_of(&serde_json::json!("not an object")).is_empty());
    }
}
