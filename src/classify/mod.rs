//! The taxonomy's rule engine: category, risk, signals, rationale and findings for every
//! tool, decided by weighing the evidence of rules that are data (`data/rules/*.toml`).
//!
//! *Architecture invariant:* classification does no I/O and never fails on a tool. Rules
//! are read and checked once ([`RuleSet::embedded`], [`RuleSet::load_dir`]); after that,
//! any definition at all — empty, a megabyte long, not English, a schema that is not an
//! object — gets a verdict, with low confidence where it gave little to go on.
//!
//! `classify` and `explain` run the same evaluation (`engine::Compiled::evaluate`); only
//! what they render from it differs.

mod engine;
mod rationale;
mod rules;

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use rules::{Example, Examples, FindingSpec, Rule};

use crate::catalog::ToolForClassification;
use crate::model::{Category, Classification, Finding, Risk, RuleText, Signal, ToolDef};
use engine::{Compiled, Evaluation, Evidence};

/// The rules shipped in the binary, in the order they are read.
const EMBEDDED: &[(&str, &str)] = &[
    (
        "category.toml",
        include_str!("../../data/rules/category.toml"),
    ),
    ("risk.toml", include_str!("../../data/rules/risk.toml")),
    (
        "poisoning.toml",
        include_str!("../../data/rules/poisoning.toml"),
    ),
    (
        "annotations.toml",
        include_str!("../../data/rules/annotations.toml"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum ClassifyError {
    #[error("cannot read the rules folder {path}")]
    ReadDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the rules file {path}")]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a valid rules file: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: rule `{rule}`: {problem}")]
    Invalid {
        path: PathBuf,
        rule: String,
        problem: String,
    },
    #[error("{path}: rule id `{rule}` is already used in {first}")]
    DuplicateId {
        path: PathBuf,
        rule: String,
        first: PathBuf,
    },
    #[error("{path} holds no `*.toml` rules files")]
    NoRules { path: PathBuf },
    #[error("the rules do not compile: {0}")]
    Compile(String),
}

/// The server a tool belongs to, as far as the rules use it.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerContext<'a> {
    pub name: &'a str,
    pub description: &'a str,
}

/// Compiled rules, ready to classify any number of tools from any number of threads.
pub struct RuleSet {
    compiled: Compiled,
    /// Shared by every verdict (see [`rules::intern`]).
    version: &'static str,
}

/// One rule that fired for a tool, as `catalog show --explain` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FiredRule {
    pub id: String,
    pub description: String,
    /// The rules file it comes from.
    pub file: String,
    /// Category evidence and its weight, when the rule gives any.
    pub category: Option<Category>,
    pub weight: f64,
    pub risk_step: i8,
    pub risk_at_least: Option<Risk>,
    /// Whether this rule changed the risk (a floor already met does not).
    pub moved_risk: bool,
    pub signal: Option<String>,
    /// The words of the definition that made it fire.
    pub evidence: String,
}

/// Everything behind one verdict: the verdict, every rule that fired, and the weight of
/// evidence per category.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    pub classification: Classification,
    pub fired: Vec<FiredRule>,
    /// Summed evidence per category, every category listed.
    pub scores: Vec<(Category, f64)>,
}

impl RuleSet {
    /// The rules built into the binary.
    pub fn embedded() -> Result<RuleSet, ClassifyError> {
        let files = EMBEDDED
            .iter()
            .map(|(name, text)| (PathBuf::from("data/rules").join(name), (*text).to_owned()))
            .collect();
        RuleSet::from_texts(files)
    }

    /// Every `*.toml` file in `dir`, in name order; they replace the built-in rules.
    pub fn load_dir(dir: &Path) -> Result<RuleSet, ClassifyError> {
        let entries = std::fs::read_dir(dir).map_err(|source| ClassifyError::ReadDir {
            path: dir.to_owned(),
            source,
        })?;
        let mut paths = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| ClassifyError::ReadDir {
                path: dir.to_owned(),
                source,
            })?;
            let path = entry.path();
            if path.extension().is_some_and(|ext| ext == "toml") {
                paths.push(path);
            }
        }
        paths.sort();
        if paths.is_empty() {
            return Err(ClassifyError::NoRules {
                path: dir.to_owned(),
            });
        }
        let files = paths
            .into_iter()
            .map(|path| {
                std::fs::read_to_string(&path)
                    .map(|text| (path.clone(), text))
                    .map_err(|source| ClassifyError::ReadFile { path, source })
            })
            .collect::<Result<Vec<_>, _>>()?;
        RuleSet::from_texts(files)
    }

    /// Rules from `(file name, TOML text)` pairs, in order.
    pub fn from_texts(files: Vec<(PathBuf, String)>) -> Result<RuleSet, ClassifyError> {
        let mut hasher = Sha256::new();
        let mut rules: Vec<Rule> = Vec::new();
        for (path, text) in &files {
            // The version covers the rules' content, not where they were read from, so
            // the same rules copied to another folder classify under the same version.
            hasher.update((text.len() as u64).to_le_bytes());
            hasher.update(text.as_bytes());
            let file: rules::RulesFile =
                toml::from_str(text).map_err(|error| ClassifyError::Parse {
                    path: path.clone(),
                    message: error.to_string().trim_end().to_owned(),
                })?;
            for spec in file.rules {
                let id = spec.id.clone();
                if let Some(first) = rules.iter().find(|rule| rule.id == id) {
                    return Err(ClassifyError::DuplicateId {
                        path: path.clone(),
                        rule: id,
                        first: first.file.clone(),
                    });
                }
                let rule =
                    rules::check(spec, path.clone()).map_err(|problem| ClassifyError::Invalid {
                        path: path.clone(),
                        rule: id,
                        problem,
                    })?;
                rules.push(rule);
            }
        }
        let digest = hasher.finalize();
        let mut version = String::from("rules-");
        for byte in &digest[..8] {
            use std::fmt::Write;
            let _ = write!(version, "{byte:02x}");
        }
        let compiled = Compiled::new(rules)?;
        Ok(RuleSet {
            compiled,
            version: rules::intern(&version),
        })
    }

    /// The classifier version: a hash of the rules' text, stored with each classification.
    pub fn version(&self) -> &str {
        self.version
    }

    /// Every rule, in the order it was read.
    pub fn rules(&self) -> &[Rule] {
        &self.compiled.rules
    }

    /// The verdict on one tool. Never fails and never panics, whatever the definition.
    pub fn classify(&self, tool: &ToolDef, context: &ServerContext<'_>) -> Classification {
        let properties = properties(tool);
        let evaluation = self.compiled.evaluate(tool, properties, context);
        self.render(tool, properties, context, &evaluation)
    }

    /// The verdict with every rule that fired and its weight: the same evaluation as
    /// [`classify`](Self::classify), rendered for a person who asks why.
    pub fn explain(&self, tool: &ToolDef, context: &ServerContext<'_>) -> Explanation {
        let properties = properties(tool);
        let evaluation = self.compiled.evaluate(tool, properties, context);
        let classification = self.render(tool, properties, context, &evaluation);
        let fired = evaluation
            .fired
            .iter()
            .map(|fired| {
                let rule = &self.compiled.rules[fired.rule as usize];
                FiredRule {
                    id: rule.id.clone(),
                    description: rule.description.clone(),
                    file: rule.file.display().to_string(),
                    category: rule.category,
                    weight: if rule.category.is_some() {
                        rule.weight
                    } else {
                        0.0
                    },
                    risk_step: rule.risk_step,
                    risk_at_least: rule.risk_at_least,
                    moved_risk: fired.moved_risk,
                    signal: rule.signal.clone(),
                    evidence: self.quote(
                        tool,
                        properties,
                        context,
                        fired.rule,
                        fired.evidence,
                        &evaluation,
                    ),
                }
            })
            .collect();
        Explanation {
            classification,
            fired,
            scores: Category::ALL
                .iter()
                .map(|category| (*category, evaluation.scores[*category as usize]))
                .collect(),
        }
    }

    /// Classifies a batch in parallel; results are in input order, ready for
    /// [`Catalog::store_classifications`](crate::catalog::Catalog::store_classifications).
    pub fn classify_all(
        &self,
        tools: &[ToolForClassification],
    ) -> Vec<(i64, String, Classification)> {
        tools
            .par_iter()
            .map(|item| {
                (
                    item.tool_id,
                    item.definition_hash.clone(),
                    self.classify_item(item),
                )
            })
            .collect()
    }

    /// The verdict on one catalogue tool, in the context of its server.
    pub fn classify_item(&self, item: &ToolForClassification) -> Classification {
        let context = ServerContext {
            name: &item.server_name,
            description: item.server_description.as_deref().unwrap_or(""),
        };
        self.classify(&item.tool, &context)
    }

    /// Classifies a batch in parallel, verdicts only, in input order: the classification
    /// [`Catalog::classify_in_chunks`](crate::catalog::Catalog::classify_in_chunks) runs on
    /// every chunk.
    pub fn classify_tools(&self, tools: &[ToolForClassification]) -> Vec<Classification> {
        tools
            .par_iter()
            .map(|item| self.classify_item(item))
            .collect()
    }

    fn render(
        &self,
        tool: &ToolDef,
        properties: Option<&Properties>,
        context: &ServerContext<'_>,
        evaluation: &Evaluation,
    ) -> Classification {
        // Each fired rule's quote is cut once, when first wanted, and shared by signals,
        // findings and rationale.
        let mut quotes = Quotes {
            rules: self,
            tool,
            properties,
            context,
            evaluation,
            cells: std::iter::repeat_with(OnceCell::new)
                .take(evaluation.fired.len())
                .collect(),
        };
        // The rationale reads the quotes first, so signals and findings can then take them
        // instead of copying them.
        let rationale = rationale::write(self, evaluation, &quotes);
        // Sized for the signals there can be, which is none for ~2 tools in 5: an empty
        // `Vec` allocates nothing, and every block a verdict holds costs until it is
        // written.
        let mut signals: Vec<Signal> = Vec::with_capacity(
            evaluation
                .fired
                .iter()
                .filter(|fired| self.compiled.texts[fired.rule as usize].signal.is_some())
                .count()
                + evaluation.notes.len(),
        );
        let mut findings: Vec<Finding> = Vec::new();
        let mut rule_ids: Vec<RuleText> = Vec::with_capacity(evaluation.fired.len());
        for (position, fired) in evaluation.fired.iter().enumerate() {
            let texts = &self.compiled.texts[fired.rule as usize];
            rule_ids.push(RuleText::Borrowed(texts.id));
            let wants_signal = texts
                .signal
                .is_some_and(|name| !signals.iter().any(|s| s.name == name));
            if !wants_signal && texts.finding.is_none() {
                continue;
            }
            let mut quote = quotes.take(position);
            if let Some(name) = texts.signal
                && wants_signal
            {
                let evidence = if texts.finding.is_some() {
                    quote.clone()
                } else {
                    std::mem::take(&mut quote)
                };
                signals.push(Signal {
                    name: RuleText::Borrowed(name),
                    evidence: Some(RuleText::Owned(evidence)),
                });
            }
            if let Some((kind, severity, message)) = texts.finding {
                findings.push(Finding {
                    kind: RuleText::Borrowed(kind),
                    severity,
                    quote,
                    message: RuleText::Borrowed(message),
                });
            }
        }
        for &(name, why) in &evaluation.notes {
            signals.push(Signal {
                name: RuleText::Borrowed(name),
                evidence: Some(RuleText::Borrowed(why)),
            });
        }
        Classification {
            category: evaluation.category,
            risk: evaluation.risk,
            signals,
            rationale,
            rule_ids,
            findings,
            confidence: evaluation.confidence,
            version: RuleText::Borrowed(self.version),
        }
    }

    /// The words that made a rule fire, cut to a readable clause.
    fn quote(
        &self,
        tool: &ToolDef,
        properties: Option<&Properties>,
        context: &ServerContext<'_>,
        rule: u32,
        evidence: Evidence,
        evaluation: &Evaluation,
    ) -> String {
        let spec = &self.compiled.rules[rule as usize];
        // A regex rule quotes its own match: that is the hidden instruction to show.
        if !spec.description_regex.is_empty()
            && let Some(found) = self
                .compiled
                .regexes_of(rule)
                .find_map(|regex| regex.find(&tool.description))
        {
            return rationale::clause(&tool.description, found.start(), found.end());
        }
        match evidence {
            Evidence::Description { start, end, title } => {
                let text = if title {
                    tool.title.as_deref().unwrap_or("")
                } else {
                    &tool.description
                };
                rationale::clause(text, start as usize, end as usize)
            }
            // Cut above from the regex's match; a regex that matched always finds it again.
            Evidence::Regex => String::new(),
            Evidence::NameToken(_) => tool.name.clone(),
            // The schema's property names in order, as `ToolDef::parameters` lists them,
            // without building every parameter to name one.
            Evidence::Param(index) => properties
                .and_then(|properties| properties.keys().nth(index as usize))
                .map(|name| ["parameter `", name, "`"].concat())
                .unwrap_or_default(),
            Evidence::Server { start, end, name } => {
                let text = if name {
                    context.name
                } else {
                    context.description
                };
                let clause = rationale::clause(text, start as usize, end as usize);
                ["server: ", &clause].concat()
            }
            Evidence::Annotation(_) => {
                let mut quote = String::new();
                for (key, value) in &spec.annotations {
                    if !quote.is_empty() {
                        quote.push_str(", ");
                    }
                    quote.push_str(key);
                    quote.push_str(": ");
                    match value {
                        serde_json::Value::Bool(true) => quote.push_str("true"),
                        serde_json::Value::Bool(false) => quote.push_str("false"),
                        other => {
                            use std::fmt::Write;
                            let _ = write!(quote, "{other}");
                        }
                    }
                }
                quote
            }
            Evidence::ParamCount => {
                format!("{} parameters", properties.map_or(0, |p| p.len()))
            }
            Evidence::Category => format!("classified {}", evaluation.category),
        }
    }
}

type Properties = serde_json::Map<String, serde_json::Value>;

/// The quotes of one verdict's fired rules, by position in `evaluation.fired`, each cut the
/// first time something asks for it: the rationale names two or three of them, and cutting
/// the others was a large share of rendering a verdict.
pub(crate) struct Quotes<'a> {
    rules: &'a RuleSet,
    tool: &'a ToolDef,
    properties: Option<&'a Properties>,
    context: &'a ServerContext<'a>,
    evaluation: &'a Evaluation,
    cells: Vec<OnceCell<String>>,
}

impl Quotes<'_> {
    /// The quote of the rule fired at `position`.
    pub(crate) fn get(&self, position: usize) -> &str {
        self.cells[position].get_or_init(|| self.cut(position))
    }

    /// The quote of the rule fired at `position`, to keep; its cell is left empty.
    fn take(&mut self, position: usize) -> String {
        self.get(position);
        self.cells[position]
            .get_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// A rule with nothing to say gets no quote. Rules that fired on the same words share
    /// the quote (copying one costs less than cutting it); the first such rule's quote is
    /// used unless it is empty (a quote already taken reads as empty, and is then cut
    /// again: the same words give the same quote).
    fn cut(&self, position: usize) -> String {
        let compiled = &self.rules.compiled;
        let fired = &self.evaluation.fired;
        let this = &fired[position];
        let rule = &compiled.rules[this.rule as usize];
        if rule.signal.is_none() && rule.finding.is_none() && rule.rationale.is_none() {
            return String::new();
        }
        if rule.description_regex.is_empty()
            && !matches!(this.evidence, Evidence::Annotation(_))
            && let Some(earlier) = fired[..position].iter().position(|other| {
                other.evidence == this.evidence
                    && compiled.rules[other.rule as usize]
                        .description_regex
                        .is_empty()
            })
        {
            let shared = self.get(earlier);
            if !shared.is_empty() {
                return shared.to_owned();
            }
        }
        self.rules.quote(
            self.tool,
            self.properties,
            self.context,
            this.rule,
            this.evidence,
            self.evaluation,
        )
    }
}

/// The input schema's `properties`, when it has an object of them. Looked up once per
/// tool (a keyed lookup in the schema's map) and handed to evaluation and quoting.
fn properties(tool: &ToolDef) -> Option<&Properties> {
    tool.input_schema
        .as_object()
        .and_then(|schema| engine::field(schema, "properties"))
        .and_then(serde_json::Value::as_object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_rules_load_and_have_a_stable_version() {
        let first = RuleSet::embedded().expect("embedded rules are valid");
        let second = RuleSet::embedded().expect("embedded rules are valid");
        assert_eq!(first.version(), second.version());
        assert!(first.version().starts_with("rules-"));
        assert!(first.rules().len() > 20);
    }

    #[test]
    fn a_bad_rules_file_names_the_file_and_the_problem() {
        let error = RuleSet::from_texts(vec![(
            PathBuf::from("bad.toml"),
            "[[rule]]\nid = \"x\"\n".into(),
        )])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(error.contains("bad.toml"), "{error}");
        assert!(error.contains("description"), "{error}");

        let error = RuleSet::from_texts(vec![(
            PathBuf::from("weightless.toml"),
            "[[rule]]\nid = \"x\"\ndescription = \"d\"\nname_tokens = [\"get\"]\n".into(),
        )])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            error.contains("weightless.toml") && error.contains("contributes nothing"),
            "{error}"
        );
    }
}
