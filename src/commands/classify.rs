//! `mcpwarden classify`: re-classify the whole catalogue and say what changed.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;

use super::{Settings, print_json};
use crate::classify::RuleSet;
use crate::cli::{ClassifyArgs, Outcome};
use crate::model::{Category, Risk};
use crate::progress::Progress;

/// Tools classified per step: small enough for the bar to move, large enough that rayon
/// has work to share between threads.
pub const CHUNK: usize = 8_192;

/// The built-in rules, or those in `dir`; errors name the file and the problem.
pub fn load_rules(dir: Option<&Path>) -> anyhow::Result<RuleSet> {
    match dir {
        Some(dir) => RuleSet::load_dir(dir)
            .with_context(|| format!("cannot load the rules in {}", dir.display())),
        None => RuleSet::embedded()
            .context("the built-in rules are broken (a bug in this build of mcpwarden)"),
    }
}

/// What `classify --json` prints: a stable, sorted shape.
#[derive(Debug, Serialize)]
pub struct ClassifySummary {
    pub version: String,
    pub tools: usize,
    /// Verdicts that differ from what the catalogue held (new or changed); re-running
    /// with the same rules writes none.
    pub changed: usize,
    pub by_category: BTreeMap<String, usize>,
    pub by_risk: BTreeMap<String, usize>,
    /// Tools with at least one finding (poisoning, annotation mismatch).
    pub with_findings: usize,
    /// Tools classified with confidence below 0.5.
    pub low_confidence: usize,
    pub seconds: f64,
}

pub fn classify(settings: &Settings, args: &ClassifyArgs) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let rules = load_rules(args.rules.as_deref())?;
    let mut catalog = settings.open_existing_catalog()?;
    let total = catalog
        .tool_count()
        .context("cannot count the tools to classify")?;
    let reporter = super::reporter::BarReporter::counting_items();
    reporter.start("classifying", Some(total));

    // Counted by position in `ALL`; named once at the end.
    let mut categories = [0usize; Category::ALL.len()];
    let mut risks = [0usize; Risk::ALL.len()];
    let (mut with_findings, mut low_confidence, mut unreported) = (0, 0, 0u64);
    // Tools are read, classified and written a chunk at a time, so 100,000 definitions and
    // verdicts are never held at once.
    let counts = catalog
        .classify_in_chunks(
            CHUNK,
            |item| rules.classify_item(item),
            |verdict| {
                if let Some(at) = Category::ALL.iter().position(|c| *c == verdict.category) {
                    categories[at] += 1;
                }
                if let Some(at) = Risk::ALL.iter().position(|r| *r == verdict.risk) {
                    risks[at] += 1;
                }
                with_findings += usize::from(!verdict.findings.is_empty());
                low_confidence += usize::from(verdict.confidence < 0.5);
                unreported += 1;
                if unreported == 1024 {
                    reporter.advance(unreported);
                    unreported = 0;
                }
            },
        )
        .context("cannot classify the catalogue")?;
    reporter.advance(unreported);
    reporter.finish();
    let by_category: BTreeMap<String, usize> = Category::ALL
        .iter()
        .zip(categories)
        .map(|(c, count)| (c.to_string(), count))
        .collect();
    let by_risk: BTreeMap<String, usize> = Risk::ALL
        .iter()
        .zip(risks)
        .map(|(r, count)| (r.to_string(), count))
        .collect();
    let summary = ClassifySummary {
        version: rules.version().to_owned(),
        tools: counts.tools,
        changed: counts.written,
        by_category,
        by_risk,
        with_findings,
        low_confidence,
        seconds: started.elapsed().as_secs_f64(),
    };
    if args.json {
        print_json(&summary)?;
    }
    let counts = |map: &BTreeMap<String, usize>, order: &[&str]| -> String {
        order
            .iter()
            .map(|name| format!("{name} {}", map.get(*name).copied().unwrap_or(0)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let categories: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
    let risks: Vec<&str> = Risk::ALL.iter().map(|r| r.as_str()).collect();
    eprintln!(
        "classified {} tools with {} in {:.2} s ({} verdicts new or changed)",
        summary.tools, summary.version, summary.seconds, summary.changed
    );
    eprintln!("  category  {}", counts(&summary.by_category, &categories));
    eprintln!("  risk      {}", counts(&summary.by_risk, &risks));
    eprintln!(
        "  {} with findings, {} with low confidence",
        summary.with_findings, summary.low_confidence
    );
    Ok(Outcome::Clean)
}
