//! The rules file format (`data/rules/*.toml`) and its checks: serde types for what people
//! write, validated into [`Rule`]s the engine compiles.
//!
//! A rule fires when every kind of matcher it names matches (any entry of a kind is
//! enough), and none of its `unless_*` matchers does. See `data/rules/README.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Mutex;

use serde::Deserialize;
use serde_json::Value;

use crate::model::{Category, Risk};

/// One `data/rules/*.toml` file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RulesFile {
    #[serde(default, rename = "rule")]
    pub rules: Vec<RuleSpec>,
}

/// One `[[rule]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleSpec {
    pub id: String,
    pub description: String,

    // --- matchers: every kind named must match; any entry within a kind is enough.
    /// Words of the tool name (camelCase, snake_case, kebab-case and dotted names split).
    #[serde(default)]
    pub name_tokens: Vec<String>,
    /// Like `name_tokens`, but only the first word of the name (where the verb usually is).
    #[serde(default)]
    pub name_first: Vec<String>,
    /// Like `name_tokens`, but only the last word (the head noun of a compound name).
    #[serde(default)]
    pub name_last: Vec<String>,
    /// Phrases in the title or description; see [`Phrase`] for the syntax.
    #[serde(default)]
    pub in_description: Vec<String>,
    /// Regular expressions over the description, for wording phrases cannot express.
    #[serde(default)]
    pub description_regex: Vec<String>,
    /// Input parameter names: a whole name (`file_path`) or one of its words (`path`).
    #[serde(default)]
    pub params: Vec<String>,
    /// Input parameter names: a whole name (`file_path`) or its last word, the head noun of
    /// a compound (`notePath`, but not `source_timezone` or `file_id`).
    #[serde(default)]
    pub param_last: Vec<String>,
    /// Input parameter names, matched only whole (`code`, not `country_code`).
    #[serde(default)]
    pub param_names: Vec<String>,
    /// JSON Schema types of a parameter; with `params`, the same parameter must match both.
    #[serde(default)]
    pub param_types: Vec<String>,
    /// At least this many input parameters.
    #[serde(default)]
    pub min_params: Option<usize>,
    /// Annotation values that must all be declared as given.
    #[serde(default)]
    pub annotations: BTreeMap<String, Value>,
    /// Phrases in the server's name or description.
    #[serde(default)]
    pub server: Vec<String>,
    /// Only once the category is decided: the rule fires only for these categories.
    #[serde(default)]
    pub when_category: Vec<Category>,

    // --- exclusions: the rule does not fire when any of these match.
    #[serde(default)]
    pub unless_description: Vec<String>,
    #[serde(default)]
    pub unless_name_tokens: Vec<String>,
    /// Name words that, coming before the word that matched, say the name is about
    /// something else: `list_created_issues` lists, `add_bookmark_to_list` adds.
    #[serde(default)]
    pub unless_name_before: Vec<String>,
    /// Phrases in the matched parameter's own `description` that say it is not what its
    /// name suggests (a `path` that is "the API endpoint path").
    #[serde(default)]
    pub unless_param_description: Vec<String>,
    /// JSON Schema types the matched parameter must not have (a boolean is never a path).
    #[serde(default)]
    pub unless_param_types: Vec<String>,
    /// Words of the matched parameter's name that say it is something else (`url_path`).
    #[serde(default)]
    pub unless_param_words: Vec<String>,

    // --- contributions.
    /// Category evidence, weighed against every other fired rule's.
    #[serde(default)]
    pub category: Option<Category>,
    #[serde(default)]
    pub weight: Option<f64>,
    /// Moves risk up (or down) this many levels...
    #[serde(default)]
    pub risk_step: Option<i8>,
    /// ...but a step up never goes past this level.
    #[serde(default)]
    pub risk_cap: Option<Risk>,
    /// Risk is at least this.
    #[serde(default)]
    pub risk_at_least: Option<Risk>,
    /// A named signal, shown with the words that raised it.
    #[serde(default)]
    pub signal: Option<String>,
    /// Words for the rationale, e.g. "types input into a terminal".
    #[serde(default)]
    pub rationale: Option<String>,
    /// A finding about the definition itself (poisoning, annotation mismatch).
    #[serde(default)]
    pub finding: Option<FindingSpec>,

    /// Tools the rule must fire on and must not fire on; checked by a test.
    #[serde(default)]
    pub examples: Examples,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindingSpec {
    pub kind: String,
    pub severity: Risk,
    pub message: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Examples {
    #[serde(default)]
    pub positive: Vec<Example>,
    #[serde(default)]
    pub negative: Vec<Example>,
}

/// A small tool definition for a rule's examples.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Example {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Parameter names (type `string`), `name:type` or `name:type:description`.
    #[serde(default)]
    pub params: Vec<String>,
    #[serde(default)]
    pub annotations: Option<Value>,
    #[serde(default)]
    pub server: Option<String>,
}

impl Example {
    /// The example as a tool definition, and the server context it names.
    pub fn to_tool(&self) -> crate::model::ToolDef {
        let mut properties = serde_json::Map::new();
        for param in &self.params {
            let mut parts = param.splitn(3, ':');
            let name = parts.next().unwrap_or_default();
            let kind = parts.next().unwrap_or("string");
            let property = match parts.next() {
                Some(description) => {
                    serde_json::json!({ "type": kind, "description": description })
                }
                None => serde_json::json!({ "type": kind }),
            };
            properties.insert(name.to_owned(), property);
        }
        let mut tool = crate::model::ToolDef::new(self.name.clone(), self.description.clone());
        tool.input_schema = serde_json::json!({ "type": "object", "properties": properties });
        tool.annotations = self.annotations.clone();
        tool
    }
}

/// A rule checked and ready to compile.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub description: String,
    pub file: PathBuf,
    pub name_tokens: Vec<String>,
    pub name_first: Vec<String>,
    pub name_last: Vec<String>,
    pub description_phrases: Vec<Phrase>,
    pub description_regex: Vec<String>,
    pub params: Vec<String>,
    pub param_last: Vec<String>,
    pub param_names: Vec<String>,
    pub param_types: Vec<String>,
    pub min_params: Option<usize>,
    pub annotations: Vec<(String, Value)>,
    pub server_phrases: Vec<Phrase>,
    pub when_category: Vec<Category>,
    pub unless_description: Vec<Phrase>,
    pub unless_name_tokens: Vec<String>,
    pub unless_name_before: Vec<String>,
    pub unless_param_description: Vec<String>,
    pub unless_param_types: Vec<String>,
    pub unless_param_words: Vec<String>,
    pub category: Option<Category>,
    pub weight: f64,
    pub risk_step: i8,
    pub risk_cap: Risk,
    pub risk_at_least: Option<Risk>,
    pub signal: Option<String>,
    pub rationale: Option<String>,
    pub finding: Option<FindingSpec>,
    pub examples: Examples,
}

/// A phrase to find in text, case-insensitively and on word boundaries.
///
/// `delete` matches "Delete a file" but not "undeleted"; a trailing `*` allows any word
/// ending (`delet*` matches "deletes", "deleted"); a leading `^` requires the phrase to
/// open the text (where a description's verb is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phrase {
    pub text: String,
    pub at_start: bool,
    pub prefix: bool,
}

impl Phrase {
    fn parse(raw: &str) -> Result<Phrase, String> {
        let mut text = raw.trim();
        let at_start = text.starts_with('^');
        if at_start {
            text = &text[1..];
        }
        let prefix = text.ends_with('*');
        if prefix {
            text = &text[..text.len() - 1];
        }
        if text.trim().is_empty() {
            return Err(format!("the phrase `{raw}` is empty"));
        }
        Ok(Phrase {
            text: text.to_owned(),
            at_start,
            prefix,
        })
    }
}

/// Checks a rule as written. Errors are one line saying what is wrong, for the caller to
/// prefix with the file and rule.
pub(crate) fn check(spec: RuleSpec, file: PathBuf) -> Result<Rule, String> {
    if spec.id.trim().is_empty() {
        return Err("`id` is empty".to_owned());
    }
    if !spec
        .id
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err("`id` must be lower-case kebab-case (a-z, 0-9, -)".to_owned());
    }
    if spec.description.trim().is_empty() {
        return Err("`description` is empty".to_owned());
    }
    let has_matcher = !spec.name_tokens.is_empty()
        || !spec.name_first.is_empty()
        || !spec.name_last.is_empty()
        || !spec.in_description.is_empty()
        || !spec.description_regex.is_empty()
        || !spec.params.is_empty()
        || !spec.param_last.is_empty()
        || !spec.param_names.is_empty()
        || !spec.param_types.is_empty()
        || spec.min_params.is_some()
        || !spec.annotations.is_empty()
        || !spec.server.is_empty()
        || !spec.when_category.is_empty();
    if !has_matcher {
        return Err("the rule has no matcher, so it would fire on every tool".to_owned());
    }
    let contributes = spec.category.is_some()
        || spec.risk_step.is_some()
        || spec.risk_at_least.is_some()
        || spec.signal.is_some()
        || spec.finding.is_some();
    if !contributes {
        return Err(
            "the rule contributes nothing: give it a category, a risk_step, a risk_at_least, a signal or a finding"
                .to_owned(),
        );
    }
    let moves_something =
        spec.category.is_some() || spec.risk_step.is_some() || spec.risk_at_least.is_some();
    if moves_something
        && spec
            .rationale
            .as_deref()
            .is_none_or(|text| text.trim().is_empty())
    {
        return Err(
            "a rule that gives category evidence or moves risk needs a `rationale` fragment, e.g. \"deletes data\""
                .to_owned(),
        );
    }
    if spec.weight.is_some() && spec.category.is_none() {
        return Err("`weight` without `category` has nothing to weigh".to_owned());
    }
    let weight = spec.weight.unwrap_or(1.0);
    if !weight.is_finite() || weight <= 0.0 || weight > 100.0 {
        return Err(format!("`weight` {weight} must be above 0 and at most 100"));
    }
    if spec.risk_step.is_some_and(|step| !(-3..=3).contains(&step)) {
        return Err("`risk_step` must be between -3 and 3".to_owned());
    }
    if spec.risk_cap.is_some() && spec.risk_step.is_none() {
        return Err("`risk_cap` without `risk_step` caps nothing".to_owned());
    }
    if !spec.when_category.is_empty() && spec.category.is_some() {
        return Err(
            "a rule with `when_category` runs after the category is decided, so it cannot also give category evidence"
                .to_owned(),
        );
    }
    if spec.examples.positive.is_empty() {
        return Err(
            "the rule has no positive example; a rule without a test is unfinished".to_owned(),
        );
    }
    let phrases = |field: &str, raw: Vec<String>| -> Result<Vec<Phrase>, String> {
        raw.iter()
            .map(|text| Phrase::parse(text).map_err(|problem| format!("`{field}`: {problem}")))
            .collect()
    };
    let lower = |words: Vec<String>| -> Vec<String> {
        words.into_iter().map(|w| w.to_lowercase()).collect()
    };
    for token in spec
        .name_tokens
        .iter()
        .chain(&spec.name_first)
        .chain(&spec.name_last)
        .chain(&spec.unless_name_tokens)
        .chain(&spec.unless_name_before)
        .chain(&spec.unless_param_words)
    {
        if crate::model::split_identifier(token) != [token.to_lowercase()] {
            return Err(format!(
                "name token `{token}` is not one word; names are split into words before matching"
            ));
        }
    }
    Ok(Rule {
        id: spec.id,
        description: spec.description,
        file,
        name_tokens: lower(spec.name_tokens),
        name_first: lower(spec.name_first),
        name_last: lower(spec.name_last),
        description_phrases: phrases("in_description", spec.in_description)?,
        description_regex: spec.description_regex,
        params: spec
            .params
            .iter()
            .map(|name| crate::model::name_key(name))
            .collect(),
        param_last: spec
            .param_last
            .iter()
            .map(|name| crate::model::name_key(name))
            .collect(),
        param_names: spec
            .param_names
            .iter()
            .map(|name| crate::model::name_key(name))
            .collect(),
        param_types: lower(spec.param_types),
        min_params: spec.min_params,
        annotations: spec.annotations.into_iter().collect(),
        server_phrases: phrases("server", spec.server)?,
        when_category: spec.when_category,
        unless_description: phrases("unless_description", spec.unless_description)?,
        unless_name_tokens: lower(spec.unless_name_tokens),
        unless_name_before: lower(spec.unless_name_before),
        unless_param_description: lower(spec.unless_param_description),
        unless_param_types: lower(spec.unless_param_types),
        unless_param_words: lower(spec.unless_param_words),
        category: spec.category,
        weight,
        risk_step: spec.risk_step.unwrap_or(0),
        risk_cap: spec.risk_cap.unwrap_or(Risk::Critical),
        risk_at_least: spec.risk_at_least,
        signal: spec.signal,
        rationale: spec.rationale,
        finding: spec.finding,
        examples: spec.examples,
    })
}

/// Every text [`intern`] has handed out.
static INTERNED: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());

/// `text` for the life of the process, stored once however many rule sets ask for it.
///
/// Verdicts borrow the rules' ids, signal names, finding texts and version instead of
/// copying them (see [`crate::model::RuleText`]), so those must outlive any one
/// [`RuleSet`](super::RuleSet). A process loads the same few hundred short texts (the
/// shipped rules, or one `--rules` folder), so keeping each distinct one costs a few
/// kilobytes, and loading rules again (as tests do) adds nothing.
pub(crate) fn intern(text: &str) -> &'static str {
    // A panic elsewhere while the lock was held cannot leave the set half-changed: an
    // insert either happened or did not.
    let mut interned = INTERNED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(known) = interned.get(text) {
        return known;
    }
    let kept: &'static str = Box::leak(text.to_owned().into_boxed_str());
    interned.insert(kept);
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_keeps_one_copy_per_text() {
        let first = intern("some-rule-id");
        let second = intern(&String::from("some-rule-id"));
        assert_eq!(first, "some-rule-id");
        assert!(std::ptr::eq(first, second));
    }

    #[test]
    fn phrases_parse_anchors_and_prefixes() {
        assert_eq!(
            Phrase::parse("^delet*"),
            Ok(Phrase {
                text: "delet".into(),
                at_start: true,
                prefix: true
            })
        );
        assert!(Phrase::parse("^*").is_err());
    }
}
