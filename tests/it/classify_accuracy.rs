//! The classifier against the hand-labelled set in `tests/data/labels/tools.jsonl`: prints
//! the confusion matrix and accuracy (see it with `cargo test --test classify_accuracy --
//! --nocapture`; it is printed to stderr either way) and holds the targets:
//! category accuracy ≥ 90%, risk within one level ≥ 95%, and no Destructive or Financial
//! tool classified as Read.

use mcpwarden::classify::{RuleSet, ServerContext};
use mcpwarden::model::{Category, Risk, ToolDef};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Label {
    id: u32,
    server: String,
    server_description: String,
    name: String,
    description: String,
    input_schema: serde_json::Value,
    annotations: Option<serde_json::Value>,
    category: Category,
    risk: Risk,
    domain: String,
}

fn labels() -> Vec<Label> {
    let text = include_str!("../data/labels/tools.jsonl");
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("bad label line {line}: {error}"))
        })
        .collect()
}

#[test]
fn labelled_set_meets_the_accuracy_targets() {
    let rules = RuleSet::embedded().expect("the embedded rules are valid");
    let labels = labels();
    assert!(
        labels.len() >= 400,
        "the labelled set has {} tools",
        labels.len()
    );
    let mut matrix = [[0usize; 5]; 5];
    let (mut category_right, mut risk_exact, mut risk_within_one) = (0, 0, 0);
    let mut dangerous_as_read = Vec::new();
    let mut misses = Vec::new();
    for label in &labels {
        let mut tool = ToolDef::new(label.name.clone(), label.description.clone());
        tool.input_schema = label.input_schema.clone();
        tool.annotations = label.annotations.clone();
        let context = ServerContext {
            name: &label.server,
            description: &label.server_description,
        };
        let verdict = rules.classify(&tool, &context);
        matrix[label.category as usize][verdict.category as usize] += 1;
        if verdict.category == label.category {
            category_right += 1;
        } else {
            misses.push(format!(
                "  #{:<3} {:<28} {:<12} expected {:<11} got {:<11} {}",
                label.id,
                label.name,
                label.domain,
                label.category,
                verdict.category,
                verdict.rationale
            ));
        }
        let distance = (label.risk as i32 - verdict.risk as i32).abs();
        if distance == 0 {
            risk_exact += 1;
        }
        if distance <= 1 {
            risk_within_one += 1;
        } else {
            misses.push(format!(
                "  #{:<3} {:<28} {:<12} risk expected {} got {}",
                label.id, label.name, label.domain, label.risk, verdict.risk
            ));
        }
        if matches!(label.category, Category::Destructive | Category::Financial)
            && verdict.category == Category::Read
        {
            dangerous_as_read.push(label.name.clone());
        }
    }
    let total = labels.len() as f64;
    let category_accuracy = category_right as f64 / total;
    let risk_accuracy = risk_within_one as f64 / total;
    eprintln!(
        "\nclassifier {} on {} labelled tools",
        rules.version(),
        labels.len()
    );
    eprintln!("confusion matrix (rows: label, columns: classifier)");
    eprint!("{:>12}", "");
    for category in Category::ALL {
        eprint!("{:>12}", category.as_str());
    }
    eprintln!();
    for (row, category) in Category::ALL.iter().enumerate() {
        eprint!("{:>12}", category.as_str());
        for count in matrix[row] {
            eprint!("{count:>12}");
        }
        eprintln!();
    }
    eprintln!(
        "category accuracy {:.1}% ({category_right}/{})",
        category_accuracy * 100.0,
        labels.len()
    );
    eprintln!(
        "risk exact {:.1}%, within one level {:.1}%",
        risk_exact as f64 / total * 100.0,
        risk_accuracy * 100.0
    );
    eprintln!("misses:\n{}", misses.join("\n"));
    assert!(
        dangerous_as_read.is_empty(),
        "Destructive or Financial tools classified as Read: {dangerous_as_read:?}"
    );
    assert!(
        category_accuracy >= 0.90,
        "category accuracy {:.1}% is below 90%",
        category_accuracy * 100.0
    );
    assert!(
        risk_accuracy >= 0.95,
        "risk within one level {:.1}% is below 95%",
        risk_accuracy * 100.0
    );
}

/// One tool of the real labelled set (`tests/data/labels-real/`): published definitions,
/// split by server into a tuning part and a held-back part no rule is written from.
#[derive(Debug, Deserialize)]
struct RealLabel {
    id: u32,
    split: String,
    server: String,
    server_description: String,
    name: String,
    #[serde(default)]
    title: Option<String>,
    description: String,
    input_schema: serde_json::Value,
    annotations: Option<serde_json::Value>,
    category: Category,
    risk: Risk,
    domain: String,
    /// Marked by hand: the description addresses the model to change what it may do.
    #[serde(default)]
    poisoned: bool,
}

/// Agreement on one split: (tools, category right, risk within one level), misses printed.
fn agreement(rules: &RuleSet, labels: &[&RealLabel], split: &str) -> (usize, usize, usize) {
    let (mut category_right, mut risk_within_one) = (0, 0);
    let mut misses = Vec::new();
    for label in labels {
        let mut tool = ToolDef::new(label.name.clone(), label.description.clone());
        tool.title = label.title.clone();
        tool.input_schema = label.input_schema.clone();
        tool.annotations = label.annotations.clone();
        let context = ServerContext {
            name: &label.server,
            description: &label.server_description,
        };
        let verdict = rules.classify(&tool, &context);
        let distance = (label.risk as i32 - verdict.risk as i32).abs();
        category_right += usize::from(verdict.category == label.category);
        risk_within_one += usize::from(distance <= 1);
        if verdict.category != label.category || distance > 1 {
            misses.push(format!(
                "  #{:<3} {:<26} {:<12} expected {}/{} got {}/{}",
                label.id,
                label.name,
                label.domain,
                label.category,
                label.risk,
                verdict.category,
                verdict.risk
            ));
        }
    }
    let total = labels.len().max(1) as f64;
    eprintln!(
        "real set, {split}: {} tools, category {:.1}% ({category_right}), risk within one {:.1}% ({risk_within_one})",
        labels.len(),
        category_right as f64 / total * 100.0,
        risk_within_one as f64 / total * 100.0
    );
    eprintln!("{}", misses.join("\n"));
    (labels.len(), category_right, risk_within_one)
}

#[test]
fn real_labelled_set_agreement_on_tuning_and_held_back() {
    let rules = RuleSet::embedded().expect("the embedded rules are valid");
    let labels: Vec<RealLabel> = include_str!("../data/labels-real/tools.jsonl")
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|error| panic!("bad line {line}: {error}"))
        })
        .collect();
    let part = |split: &str| -> Vec<&RealLabel> {
        labels.iter().filter(|label| label.split == split).collect()
    };
    let (tuning, held_back) = (part("tuning"), part("held-back"));
    assert_eq!(
        tuning.len() + held_back.len(),
        labels.len(),
        "every tool is in a split"
    );
    // A server is in one split only.
    for label in &held_back {
        assert!(
            tuning.iter().all(|other| other.server != label.server),
            "{} is in both splits",
            label.server
        );
    }
    agreement(&rules, &tuning, "tuning");
    let (total, category_right, risk_within_one) = agreement(&rules, &held_back, "held-back");
    // Floors under today's figures (255/287 and 268/287), so a change that loses ground on
    // tools no rule was written from fails here; the targets (90 % / 97 %) are not
    // met yet.
    let total = total as f64;
    assert!(category_right as f64 / total >= HELD_BACK_CATEGORY_FLOOR);
    assert!(risk_within_one as f64 / total >= HELD_BACK_RISK_FLOOR);
    let dangerous_as_read: Vec<&str> = labels
        .iter()
        .filter(|label| matches!(label.category, Category::Destructive | Category::Financial))
        .filter(|label| {
            let mut tool = ToolDef::new(label.name.clone(), label.description.clone());
            tool.input_schema = label.input_schema.clone();
            tool.annotations = label.annotations.clone();
            let context = ServerContext {
                name: &label.server,
                description: &label.server_description,
            };
            rules.classify(&tool, &context).category == Category::Read
        })
        .map(|label| label.name.as_str())
        .collect();
    eprintln!("real Destructive/Financial tools classified Read: {dangerous_as_read:?}");
}

const HELD_BACK_CATEGORY_FLOOR: f64 = 0.88;
const HELD_BACK_RISK_FLOOR: f64 = 0.93;

/// Description poisoning on real tools: every tuning description marked poisoned by hand
/// gets a finding whose quote is in it (held-back ones are reported: no pattern may be
/// written from them), and at most 5 % of the clean ones get any finding (annotation
/// mismatches are not poisoning and are not counted).
#[test]
fn real_poisoned_descriptions_are_found_and_clean_ones_mostly_are_not() {
    let rules = RuleSet::embedded().expect("the embedded rules are valid");
    let labels: Vec<RealLabel> = include_str!("../data/labels-real/tools.jsonl")
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).expect("a label line"))
        .collect();
    let (mut missed, mut false_positives, mut poisoned, mut clean) =
        (Vec::new(), Vec::new(), 0usize, 0usize);
    for label in &labels {
        let mut tool = ToolDef::new(label.name.clone(), label.description.clone());
        tool.title = label.title.clone();
        tool.input_schema = label.input_schema.clone();
        tool.annotations = label.annotations.clone();
        let context = ServerContext {
            name: &label.server,
            description: &label.server_description,
        };
        let verdict = rules.classify(&tool, &context);
        let findings: Vec<_> = verdict
            .findings
            .iter()
            .filter(|finding| &*finding.kind != "annotation-mismatch")
            .collect();
        if label.poisoned {
            poisoned += 1;
            if findings.is_empty() {
                missed.push((label.split.as_str(), label.name.as_str()));
            }
            for finding in &findings {
                assert!(
                    label.description.contains(finding.quote.trim_matches('…')),
                    "{}: the finding's quote is not in the description: {}",
                    label.name,
                    finding.quote
                );
            }
        } else {
            clean += 1;
            if !findings.is_empty() {
                false_positives.push(format!("{} ({})", label.name, findings[0].kind));
            }
        }
    }
    eprintln!(
        "real set poisoning: {}/{poisoned} marked descriptions found; {} of {clean} clean ones with a finding: {false_positives:?}",
        poisoned - missed.len(),
        false_positives.len()
    );
    eprintln!("poisoned descriptions without a finding (split, tool): {missed:?}");
    assert!(
        missed.iter().all(|(split, _)| *split == "held-back"),
        "tuning poisoned descriptions without a finding: {missed:?}"
    );
    assert!(
        false_positives.len() as f64 <= clean as f64 * 0.05,
        "{} clean descriptions with a finding: {false_positives:?}",
        false_positives.len()
    );
}
