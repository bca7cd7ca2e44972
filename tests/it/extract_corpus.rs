//! The extraction corpus: every folder under `tests/fixtures/servers/` is a small server
//! written by us in the shape real servers use, with `expected.json` listing the tools it
//! defines. Extraction is compared with it per language: tool-name recall and precision,
//! exact description match and F1 over input-schema property names.
//!
//! `expected.json`:
//! ```json
//! {"language": "typescript",
//!  "tools": [{"name": "...", "description": "...", "input_schema": {...},
//!             "annotations": {...}}],
//!  "unresolved": 0,
//!  "unread": "@modelcontextprotocol/sdk"}
//! ```
//! `annotations` is compared only when given; `unresolved` (default 0) is the number of
//! registrations whose names cannot be resolved statically; `unread` (default none) is
//! the SDK named by the "tools could not be read" marker of a server that imports one and
//! yields no tool.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use mcpwarden::extract::{Options, extract_dir};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
struct Expected {
    language: String,
    tools: Vec<ExpectedTool>,
    #[serde(default)]
    unresolved: usize,
    /// The SDK a server imports when none of its tools can be read (the "could not read"
    /// marker); absent when every server has tools or imports no SDK.
    #[serde(default)]
    unread: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ExpectedTool {
    name: String,
    description: String,
    input_schema: Value,
    annotations: Option<Value>,
}

#[derive(Debug, Default)]
struct Score {
    fixtures: usize,
    expected: usize,
    extracted: usize,
    matched: usize,
    descriptions_equal: usize,
    property_tp: usize,
    property_fp: usize,
    property_fn: usize,
    required_equal: usize,
    annotations_checked: usize,
    annotations_equal: usize,
}

impl Score {
    fn recall(&self) -> f64 {
        ratio(self.matched, self.expected)
    }
    fn precision(&self) -> f64 {
        ratio(self.matched, self.extracted)
    }
    fn description_match(&self) -> f64 {
        ratio(self.descriptions_equal, self.matched)
    }
    fn property_f1(&self) -> f64 {
        let tp = self.property_tp as f64;
        let denominator = 2.0 * tp + self.property_fp as f64 + self.property_fn as f64;
        if denominator == 0.0 {
            1.0
        } else {
            2.0 * tp / denominator
        }
    }
}

fn ratio(numerator: usize, denominator: usize) -> f64 {
    if denominator == 0 {
        1.0
    } else {
        numerator as f64 / denominator as f64
    }
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/servers")
}

fn property_names(schema: &Value) -> BTreeSet<String> {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|properties| properties.keys().cloned().collect())
        .unwrap_or_default()
}

fn required(schema: &Value) -> BTreeSet<String> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|names| {
            names
                .iter()
                .filter_map(|name| name.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn extraction_matches_the_corpus_per_language() {
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("tests/fixtures/servers exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.join("expected.json").is_file())
        .collect();
    fixtures.sort();

    let mut scores: BTreeMap<String, Score> = BTreeMap::new();
    let mut problems: Vec<String> = Vec::new();
    let mut unresolved_mismatches = 0usize;
    for fixture in &fixtures {
        let label = fixture.file_name().unwrap().to_string_lossy().into_owned();
        let expected: Expected =
            serde_json::from_str(&std::fs::read_to_string(fixture.join("expected.json")).unwrap())
                .unwrap_or_else(|error| panic!("{label}/expected.json: {error}"));
        let extraction = extract_dir(fixture, &Options::default()).unwrap();
        let score = scores.entry(expected.language.clone()).or_default();
        score.fixtures += 1;
        score.expected += expected.tools.len();
        score.extracted += extraction.tool_count();

        let found: BTreeMap<&str, &mcpwarden::model::ToolDef> = extraction
            .tools()
            .map(|tool| (tool.name.as_str(), tool))
            .collect();
        let wanted: BTreeSet<&str> = expected.tools.iter().map(|t| t.name.as_str()).collect();
        for name in found.keys().filter(|name| !wanted.contains(*name)) {
            problems.push(format!(
                "{label}: extracted `{name}`, which is not expected"
            ));
        }
        for tool in &expected.tools {
            let Some(got) = found.get(tool.name.as_str()) else {
                problems.push(format!("{label}: missed `{}`", tool.name));
                continue;
            };
            score.matched += 1;
            if got.description == tool.description {
                score.descriptions_equal += 1;
            } else {
                problems.push(format!(
                    "{label}: `{}` description\n    expected {:?}\n    got      {:?}",
                    tool.name, tool.description, got.description
                ));
            }
            let want = property_names(&tool.input_schema);
            let have = property_names(&got.input_schema);
            score.property_tp += want.intersection(&have).count();
            score.property_fn += want.difference(&have).count();
            score.property_fp += have.difference(&want).count();
            if want != have {
                problems.push(format!(
                    "{label}: `{}` properties: expected {want:?}, got {have:?}",
                    tool.name
                ));
            }
            if required(&tool.input_schema) == required(&got.input_schema) {
                score.required_equal += 1;
            } else {
                problems.push(format!(
                    "{label}: `{}` required: expected {:?}, got {:?}",
                    tool.name,
                    required(&tool.input_schema),
                    required(&got.input_schema)
                ));
            }
            if let Some(annotations) = &tool.annotations {
                score.annotations_checked += 1;
                if got.annotations.as_ref() == Some(annotations) {
                    score.annotations_equal += 1;
                } else {
                    problems.push(format!(
                        "{label}: `{}` annotations: expected {annotations}, got {:?}",
                        tool.name, got.annotations
                    ));
                }
            }
        }
        let unread: Vec<&str> = extraction
            .servers
            .iter()
            .filter_map(|server| server.unread.as_ref().map(|unread| unread.sdk.as_str()))
            .collect();
        if unread != expected.unread.as_deref().into_iter().collect::<Vec<_>>() {
            unresolved_mismatches += 1;
            problems.push(format!(
                "{label}: \"could not read\" markers {unread:?}, expected {:?}",
                expected.unread
            ));
        }
        let unresolved: usize = extraction.servers.iter().map(|s| s.unresolved.len()).sum();
        if unresolved != expected.unresolved {
            unresolved_mismatches += 1;
            problems.push(format!(
                "{label}: {unresolved} unresolved registrations, expected {}",
                expected.unresolved
            ));
        }
    }

    println!(
        "{:<12} {:>8} {:>6} {:>7} {:>9} {:>11} {:>12} {:>9}",
        "language",
        "fixtures",
        "tools",
        "recall",
        "precision",
        "description",
        "property F1",
        "required"
    );
    for (language, score) in &scores {
        println!(
            "{:<12} {:>8} {:>6} {:>6.1}% {:>8.1}% {:>10.1}% {:>11.1}% {:>8.1}%",
            language,
            score.fixtures,
            score.expected,
            100.0 * score.recall(),
            100.0 * score.precision(),
            100.0 * score.description_match(),
            100.0 * score.property_f1(),
            100.0 * ratio(score.required_equal, score.matched),
        );
    }
    for problem in &problems {
        println!("  {problem}");
    }

    assert!(
        fixtures.len() >= 30,
        "the corpus must hold at least 30 fixture servers, found {}",
        fixtures.len()
    );
    assert_eq!(
        unresolved_mismatches, 0,
        "fixtures whose unresolved registrations or \"could not read\" markers differ from \
         expected.json (listed above)"
    );
    for (language, score) in &scores {
        assert!(
            score.recall() >= 0.98,
            "{language}: recall {:.3} < 0.98",
            score.recall()
        );
        assert!(
            score.precision() >= 0.99,
            "{language}: precision {:.3} < 0.99",
            score.precision()
        );
        assert!(
            score.description_match() >= 0.95,
            "{language}: description exact match {:.3} < 0.95",
            score.description_match()
        );
        assert!(
            score.property_f1() >= 0.95,
            "{language}: property F1 {:.3} < 0.95",
            score.property_f1()
        );
        assert_eq!(
            score.annotations_checked, score.annotations_equal,
            "{language}: annotations differ"
        );
    }
}
