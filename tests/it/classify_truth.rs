//! Every rationale is checkable (issue 21): each fragment a verdict quotes — in its
//! rationale, its signals and its findings — occurs in the tool's definition (name, title,
//! description, schema) or its server's, and every parameter it names exists. Checked over
//! every labelled tool: the team's set (`tests/data/labels/`), the real one
//! (`tests/data/labels-real/`) and the seeds (`tests/data/seeds/`).
//!
//! Quotes are cut to a clause, with `…` where they were cut, whitespace runs as one space
//! and double quotes as single ones; the definition is compared in the same form.

use mcpwarden::classify::{RuleSet, ServerContext};
use mcpwarden::model::{Classification, ToolDef};
use serde_json::Value;

/// One tool and its server, from any of the labelled files.
struct Case {
    origin: String,
    server_name: String,
    server_description: String,
    tool: ToolDef,
}

fn label_cases(origin: &str, text: &str) -> Vec<Case> {
    text.lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|line| {
            let label: Value = serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("{origin}: bad line {line}: {error}"));
            let mut tool = ToolDef::new(
                label["name"].as_str().unwrap_or_default(),
                label["description"].as_str().unwrap_or_default(),
            );
            tool.title = label["title"].as_str().map(str::to_owned);
            tool.input_schema = label["input_schema"].clone();
            if tool.input_schema.is_null() {
                tool.input_schema = serde_json::json!({"type": "object"});
            }
            tool.annotations = label.get("annotations").filter(|a| !a.is_null()).cloned();
            Case {
                origin: format!("{origin} #{}", label["id"]),
                server_name: label["server"].as_str().unwrap_or_default().to_owned(),
                server_description: label["server_description"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                tool,
            }
        })
        .collect()
}

/// The catalogue-format seed file: one server per line with its tools.
fn catalogue_cases(origin: &str, text: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let server: Value = serde_json::from_str(line).expect("a server line");
        for tool in server["tools"].as_array().into_iter().flatten() {
            let mut def = ToolDef::new(
                tool["name"].as_str().unwrap_or_default(),
                tool["description"].as_str().unwrap_or_default(),
            );
            def.title = tool["title"].as_str().map(str::to_owned);
            def.input_schema = tool["input_schema"].clone();
            def.annotations = tool.get("annotations").filter(|a| !a.is_null()).cloned();
            cases.push(Case {
                origin: format!("{origin} {}", def.name),
                server_name: server["name"].as_str().unwrap_or_default().to_owned(),
                server_description: server["description"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                tool: def,
            });
        }
    }
    cases
}

fn all_cases() -> Vec<Case> {
    let mut cases = label_cases("labels", include_str!("../data/labels/tools.jsonl"));
    cases.extend(label_cases(
        "labels-real",
        include_str!("../data/labels-real/tools.jsonl"),
    ));
    cases.extend(catalogue_cases(
        "seeds",
        include_str!("../data/seeds/servers.jsonl"),
    ));
    cases
}

/// Text as quotes render it: whitespace runs as one space, `"` as `'`.
fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            if !space {
                out.push(' ');
            }
            space = true;
        } else {
            out.push(if c == '"' { '\'' } else { c });
            space = false;
        }
    }
    out
}

/// Whether every piece of `quote` between the `…` marks occurs in `haystack`.
fn occurs(quote: &str, haystack: &str) -> bool {
    quote
        .split('…')
        .map(str::trim)
        .filter(|piece| !piece.is_empty())
        .all(|piece| haystack.contains(piece))
}

struct Checker<'a> {
    case: &'a Case,
    definition: String,
    server: String,
    params: Vec<String>,
    problems: Vec<String>,
}

impl Checker<'_> {
    fn problem(&mut self, what: String) {
        self.problems.push(format!(
            "{} `{}`: {what}",
            self.case.origin, self.case.tool.name
        ));
    }

    /// Evidence as signals and fired rules give it: a clause, `parameter `x``, the tool
    /// name, `server: ...`, an annotation, a parameter count or the category.
    fn evidence(&mut self, evidence: &str) {
        if let Some(rest) = evidence.strip_prefix("parameter `") {
            let name = rest.trim_end_matches('`');
            if !self.params.iter().any(|p| p == name) {
                self.problem(format!("names parameter `{name}`, which does not exist"));
            }
        } else if let Some(rest) = evidence.strip_prefix("server: ") {
            if !occurs(rest, &self.server) {
                self.problem(format!("quotes the server: {rest:?}"));
            }
        } else if evidence == self.case.tool.name {
        } else if let Some((key, value)) = evidence.split_once(": ")
            && key.ends_with("Hint")
        {
            for pair in evidence.split(", ") {
                let (key, value) = pair.split_once(": ").unwrap_or((key, value));
                let declared = self
                    .case
                    .tool
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(key))
                    .map(|v| v.to_string());
                if declared.as_deref() != Some(value) {
                    self.problem(format!("claims annotation {key}: {value}"));
                }
            }
        } else if let Some(count) = evidence
            .strip_suffix(" parameters")
            .and_then(|count| count.parse::<usize>().ok())
        {
            // A count ("6 parameters"); a quote that ends in "parameters" is checked below.
            if count != self.params.len() {
                self.problem(format!("claims {evidence}"));
            }
        } else if evidence.starts_with("classified ") {
        } else if !occurs(evidence, &self.definition) {
            self.problem(format!(
                "quotes {evidence:?}, which is not in the definition"
            ));
        }
    }

    /// The rationale's parenthesised evidence: `("quote")`, `(its name is `x`)`,
    /// `(parameter `x`)`, `(server: ...)` and the rest.
    fn rationale(&mut self, rationale: &str) {
        let mut rest = rationale;
        while let Some(open) = rest.find(" (") {
            let after = &rest[open + 2..];
            let (inner, next) = if let Some(quoted) = after.strip_prefix('"') {
                match quoted.find("\")") {
                    Some(end) => (&quoted[..end], &quoted[end + 2..]),
                    None => {
                        self.problem(format!("unclosed quote in {rationale:?}"));
                        return;
                    }
                }
            } else if let Some(named) = after.strip_prefix("its name is `") {
                let end = named.find("`)").unwrap_or(named.len());
                let name = &named[..end];
                if name != self.case.tool.name {
                    self.problem(format!("says its name is `{name}`"));
                }
                rest = named.get(end + 2..).unwrap_or("");
                continue;
            } else if after.starts_with("server: ") {
                // A server clause may hold parentheses: it ends where the sentence goes on.
                let end = ["), so it is", ") and ", ").", "), "]
                    .iter()
                    .filter_map(|stop| after.find(stop))
                    .min()
                    .unwrap_or(after.len());
                (&after[..end], &after[(end + 1).min(after.len())..])
            } else {
                let end = after.find(')').unwrap_or(after.len());
                (&after[..end], &after[(end + 1).min(after.len())..])
            };
            if after.starts_with('"') {
                if !occurs(inner, &self.definition) {
                    self.problem(format!("quotes {inner:?}, which is not in the definition"));
                }
            } else {
                self.evidence(inner);
            }
            rest = next;
        }
    }
}

fn check(case: &Case, verdict: &Classification) -> Vec<String> {
    let tool = &case.tool;
    let params: Vec<String> = tool
        .input_schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    let definition = normalise(&format!(
        "{}\n{}\n{}\n{}",
        tool.name,
        tool.title.as_deref().unwrap_or(""),
        tool.description,
        tool.input_schema
    ));
    let mut checker = Checker {
        case,
        definition,
        server: normalise(&format!(
            "{}\n{}",
            case.server_name, case.server_description
        )),
        params,
        problems: Vec::new(),
    };
    checker.rationale(&verdict.rationale);
    // Confidence notes are the classifier's own words about the definition, not quotes.
    const NOTES: [&str; 6] = [
        "no-evidence",
        "empty-description",
        "short-description",
        "empty-name",
        "very-long-description",
        "schema-not-object",
    ];
    for signal in &verdict.signals {
        if NOTES.contains(&&*signal.name) || signal.name == "mixed-evidence" {
            continue;
        }
        if let Some(evidence) = signal.evidence.as_deref() {
            checker.evidence(evidence);
        }
    }
    for finding in &verdict.findings {
        let quote = finding.quote.clone();
        checker.evidence(&quote);
    }
    checker.problems
}

#[test]
fn every_quote_occurs_in_the_definition_and_every_named_parameter_exists() {
    let rules = RuleSet::embedded().expect("the embedded rules are valid");
    let cases = all_cases();
    assert!(cases.len() >= 693, "{} labelled tools", cases.len());
    let mut problems = Vec::new();
    for case in &cases {
        let context = ServerContext {
            name: &case.server_name,
            description: &case.server_description,
        };
        let verdict = rules.classify(&case.tool, &context);
        problems.extend(check(case, &verdict));
    }
    assert!(
        problems.is_empty(),
        "{} false claims:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The claims seen on real cards (issue 21) are gone.
#[test]
fn no_path_claim_on_a_timezone_and_no_language_claim() {
    let rules = RuleSet::embedded().expect("the embedded rules are valid");
    let mut tool = ToolDef::new("convert_time", "Convert time between timezones");
    tool.input_schema = serde_json::json!({"type": "object", "properties": {
        "source_timezone": {"type": "string"}, "time": {"type": "string"},
        "target_timezone": {"type": "string"}}, "required": ["source_timezone", "time", "target_timezone"]});
    let verdict = rules.classify(&tool, &ServerContext::default());
    assert!(!verdict.rationale.contains("path"), "{}", verdict.rationale);
    assert!(verdict.signals.iter().all(|s| s.name != "takes-file-path"));
    for description in [
        "List payment intents, newest first.",
        "List recent cluster events.",
        "Search recent news articles.",
    ] {
        let verdict = rules.classify(&ToolDef::new("x", description), &ServerContext::default());
        assert!(
            !verdict.rationale.contains("English"),
            "{}",
            verdict.rationale
        );
        assert!(verdict.signals.iter().all(|s| s.name != "non-english-text"));
    }
}
