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
