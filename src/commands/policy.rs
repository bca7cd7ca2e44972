//! `mcpwarden policy generate | check | explain | diff | schema`.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use serde::Serialize;
use serde_json::Value;

use super::{Settings, print_json};
use crate::catalog::{Catalog, ServerCard};
use crate::cli::{Outcome, PolicyCheckArgs, PolicyDiffArgs, PolicyExplainArgs, PolicyGenerateArgs};
use crate::policy::{
    self, CheckReport, CompiledPolicy, ExplainRequest, KnownServer, KnownTool, Verdict,
    diff::Direction,
};

/// Picks the one server `name` means. Several matches are an error unless one is an exact
/// match of the full name.
fn one_server(catalog: &Catalog, name: &str) -> anyhow::Result<Option<ServerCard>> {
    let mut servers = catalog.find_servers(name)?;
    if let Some(exact) = servers.iter().position(|card| card.record.name == name) {
        return Ok(Some(servers.swap_remove(exact)));
    }
    match servers.len() {
        0 => Ok(None),
        1 => Ok(servers.pop()),
        _ => {
            let names: Vec<&str> = servers
                .iter()
                .map(|card| card.record.name.as_str())
                .collect();
            bail!(
                "`{name}` matches {} servers: {}; give the full name",
                names.len(),
                names.join(", ")
            )
        }
    }
}

pub fn generate(settings: &Settings, args: &PolicyGenerateArgs) -> anyhow::Result<Outcome> {
    let catalog = settings.open_existing_catalog()?;
    if args.all {
        return generate_all(&catalog, &args.out_dir);
    }
    let Some(name) = &args.server else {
        bail!("name a server, or pass --all");
    };
    let Some(server) = one_server(&catalog, name)? else {
        eprintln!("no server named `{name}` in the catalogue");
        let near = catalog.closest_names(name, 5)?;
        if !near.is_empty() {
            eprintln!("closest names: {}", near.join(", "));
        }
        return Ok(Outcome::Findings);
    };
    let text = generated_text(&server)?;
    match &args.out {
        Some(path) => {
            fs_err::write(path, &text)?;
            eprintln!("wrote {}", path.display());
        }
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(Outcome::Clean)
}

/// Generates, warns about unclassified tools, and proves the output passes `check`.
fn generated_text(server: &ServerCard) -> anyhow::Result<String> {
    let generated = policy::generate(server);
    for tool in &generated.unclassified {
        eprintln!(
            "warning: {}: `{tool}` is not classified yet, so the policy leaves it to the default (deny); \
             run the classifier and generate again",
            server.record.name
        );
    }
    let text = policy::policy_text(&generated.policy);
    let report = policy::check(&text, None);
    if !report.is_valid() {
        let problems: Vec<String> = report.errors().map(ToString::to_string).collect();
        bail!(
            "the generated policy for {} does not pass its own check (a bug in mcpwarden): {}",
            server.record.name,
            problems.join("; ")
        );
    }
    Ok(text)
}

fn generate_all(catalog: &Catalog, out_dir: &Path) -> anyhow::Result<Outcome> {
    fs_err::create_dir_all(out_dir)?;
    let mut used = std::collections::HashSet::new();
    let mut out = std::io::stdout().lock();
    for id in catalog.server_ids()? {
        let server = catalog.server_card(id)?;
        let mut file_name = policy::generate::policy_file_name(&server.record.name);
        if !used.insert(file_name.clone()) {
            // Two names that differ only in characters the file name cannot keep.
            file_name = format!("{}-{id}.json", file_name.trim_end_matches(".json"));
            used.insert(file_name.clone());
        }
        let path = out_dir.join(&file_name);
        let text = generated_text(&server)?;
        fs_err::write(&path, text)?;
        writeln!(out, "{}\t{}", server.record.name, path.display())?;
    }
    Ok(Outcome::Clean)
}

#[derive(Serialize)]
struct CheckJson<'a> {
    file: String,
    valid: bool,
    /// The catalogue server the argument names were checked against, if any.
    server: Option<&'a str>,
    diagnostics: &'a [policy::Diagnostic],
}

/// What the catalogue knows of `name`, as `check` needs it.
fn known_server(card: &ServerCard) -> KnownServer {
    KnownServer {
        name: card.record.name.clone(),
        tools: card
            .tools
            .iter()
            .map(|tool| {
                (
                    tool.tool.name.clone(),
                    KnownTool {
                        input_schema: tool.tool.input_schema.clone(),
                        definition_hash: tool.definition_hash.clone(),
                    },
                )
            })
            .collect(),
    }
}

pub fn check(settings: &Settings, args: &PolicyCheckArgs) -> anyhow::Result<Outcome> {
    let text = fs_err::read_to_string(&args.file)?;
    // A first pass without the catalogue tells us which server the file says it is for.
    let mut report = policy::check(&text, None);
    let named_in_file = report
        .policy
        .as_ref()
        .and_then(|policy| policy.metadata.as_ref())
        .and_then(|metadata| metadata.server.clone());
    let mut checked_against = None;
    let server_name = args.server.clone().or(named_in_file);
    if let Some(name) = server_name.filter(|_| report.policy.is_some()) {
        // With --server the catalogue must know it; from the file, it is a bonus.
        let explicit = args.server.is_some();
        let card = if explicit || settings.db.exists() {
            one_server(&settings.open_existing_catalog()?, &name)?
        } else {
            None
        };
        match card {
            Some(card) => {
                let known = known_server(&card);
                report = policy::check(&text, Some(&known));
                checked_against = Some(known.name);
            }
            None if explicit => bail!(
                "no server named `{name}` in the catalogue {}",
                settings.db.display()
            ),
            None => eprintln!(
                "note: the catalogue does not know server `{name}`; argument names were not checked"
            ),
        }
    }
    print_check(
        &args.file,
        &report,
        checked_against.as_deref(),
        args.output.json,
    )?;
    Ok(if report.is_valid() {
        Outcome::Clean
    } else {
        Outcome::Findings
    })
}

fn print_check(
    file: &Path,
    report: &CheckReport,
    server: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        return print_json(&CheckJson {
            file: file.display().to_string(),
            valid: report.is_valid(),
            server,
            diagnostics: &report.diagnostics,
        });
    }
    let mut out = std::io::stdout().lock();
    for diagnostic in &report.diagnostics {
        writeln!(out, "{}:{diagnostic}", file.display())?;
    }
    let errors = report.errors().count();
    let warnings = report.diagnostics.len() - errors;
    if report.is_valid() {
        writeln!(
            out,
            "{}: valid policy ({warnings} warning(s))",
            file.display()
        )?;
    } else {
        writeln!(
            out,
            "{}: not valid: {errors} error(s), {warnings} warning(s)",
            file.display()
        )?;
    }
    Ok(())
}

/// Reads, checks and compiles a policy file; a bad one is an error listing every problem.
fn load_checked(path: &Path) -> anyhow::Result<CompiledPolicy> {
    let text = fs_err::read_to_string(path)?;
    policy::load(&text).with_context(|| format!("cannot use the policy {}", path.display()))
}

pub fn explain(args: &PolicyExplainArgs) -> anyhow::Result<Outcome> {
    let compiled = load_checked(&args.file)?;
    let arguments: Value = match &args.args {
        Some(text) => serde_json::from_str(text).context("--args is not valid JSON")?,
        None => Value::Null,
    };
    let now = match &args.at {
        Some(text) => {
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .with_context(|| format!("--at `{text}` is not an RFC 3339 time"))?
        }
        None => time::OffsetDateTime::now_utc(),
    };
    let explanation = policy::explain(
        &compiled,
        &ExplainRequest {
            tool: &args.tool,
            arguments: &arguments,
            grant: args.grant.as_deref(),
            session: args.session.as_deref(),
            definition_hash: args.definition_hash.as_deref(),
            repeat: args.repeat,
            now,
        },
    );
    if args.output.json {
        print_json(&explanation)?;
    } else {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{}: {}",
            explanation.tool,
            explanation.verdict.as_str()
        )?;
        writeln!(out, "  rule      {}", explanation.rule)?;
        writeln!(out, "  why       {}", explanation.message)?;
        if let Some(refusal) = &explanation.refusal {
            writeln!(out, "  agent gets {refusal}")?;
        }
        if args.repeat > 1 {
            writeln!(out, "  call      {} of {}", explanation.call, args.repeat)?;
        }
        writeln!(out, "steps:")?;
        for step in &explanation.steps {
            writeln!(out, "  {:<40} {}", step.rule, step.outcome)?;
        }
    }
    Ok(if explanation.verdict == Verdict::Allow {
        Outcome::Clean
    } else {
        Outcome::Findings
    })
}

#[derive(Serialize)]
struct DiffJson<'a> {
    old: String,
    new: String,
    looser: bool,
    changes: &'a [policy::diff::Change],
}

pub fn diff(args: &PolicyDiffArgs) -> anyhow::Result<Outcome> {
    let old = load_checked(&args.old)?;
    let new = load_checked(&args.new)?;
    let changes = policy::diff::diff(old.policy(), new.policy());
    let looser = changes
        .iter()
        .any(|change| change.direction == Direction::Looser);
    if args.output.json {
        print_json(&DiffJson {
            old: args.old.display().to_string(),
            new: args.new.display().to_string(),
            looser,
            changes: &changes,
        })?;
    } else {
        let mut out = std::io::stdout().lock();
        if changes.is_empty() {
            writeln!(out, "no change in what the policies allow")?;
        }
        for change in &changes {
            writeln!(
                out,
                "{:<8} {}: {}",
                change.direction.as_str().to_uppercase(),
                change.path,
                change.message
            )?;
        }
    }
    // Exit 1 when anything got looser, so CI can demand a second review for it.
    Ok(if looser {
        Outcome::Findings
    } else {
        Outcome::Clean
    })
}

pub fn schema() -> anyhow::Result<Outcome> {
    std::io::stdout()
        .lock()
        .write_all(policy::json_schema_text().as_bytes())?;
    Ok(Outcome::Clean)
}
