//! `mcpwarden report`: the static HTML catalogue and the Markdown summary.

use anyhow::Context;
use serde_json::Value;

use super::{Settings, print_json};
use crate::catalog::ServerCard;
use crate::cli::{Outcome, ReportArgs};
use crate::report::{self, ReportConfig};

/// The recommended policy for a server, shown on its report pages: the same policy
/// `mcpwarden policy generate` writes. A server with no classified tool has none yet (its
/// policy would only say "deny everything", which is the default anyway).
fn recommended_policy(card: &ServerCard) -> Option<Value> {
    if card.tools.iter().all(|tool| tool.classification.is_none()) {
        return None;
    }
    serde_json::to_value(crate::policy::generate(card).policy).ok()
}

pub fn report(settings: &Settings, args: &ReportArgs) -> anyhow::Result<Outcome> {
    let catalog = settings.open_existing_catalog()?;
    let config = ReportConfig {
        out_dir: args.out.clone(),
        summary_path: Some(args.summary.clone()),
    };
    let reporter = super::reporter::BarReporter::counting_items();
    let summary = report::generate(&catalog, &config, &recommended_policy, &reporter)
        .with_context(|| format!("cannot write the report to {}", args.out.display()))?;
    if args.output.json {
        print_json(&summary)?;
    } else {
        eprintln!(
            "wrote {} pages ({} servers, {} tools, {} classified) to {}",
            summary.pages,
            summary.servers,
            summary.tools,
            summary.classified,
            summary.index.display()
        );
        if let Some(path) = &summary.summary {
            eprintln!("wrote the summary to {}", path.display());
        }
    }
    Ok(Outcome::Clean)
}
