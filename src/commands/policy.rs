//! `mcpwarden policy generate | check | explain | diff | schema`.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use serde::Serialize;
use serde_json::Value;

use super::{Settings, print_json};
use crate::catalog::{Catalog, ServerCard};
use crate::cli::{
    Outcome, PolicyCheckArgs, PolicyDiffArgs, PolicyExplainArgs, PolicyGenerateArgs, PolicyPinArgs,
};
use crate::policy::{
    self, CheckReport, CompiledPolicy, ExplainRequest, KnownServer, KnownTool, Verdict,
    diff::Direction,
};

/// Picks the one server `name` means. Several matches are an error unless one is an exact
/// match of the full name.
pub(crate) fn one_server(catalog: &Catalog, name: &str) -> anyhow::Result<Option<ServerCard>> {
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
        return generate_all(&catalog, &args.out_dir, args.allow_unread);
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
    if let Some(why) = unread(&server) {
        eprintln!(
            "{}: {why}",
            if args.allow_unread {
                "warning"
            } else {
                "error"
            }
        );
        if !args.allow_unread {
            eprintln!(
                "no policy written: it would name no tool, so the gateway would deny them all. \
                 Crawl it again with `--live always` to list its tools from the running server, \
                 or pass --allow-unread to write the deny-all policy anyway"
            );
            return Ok(Outcome::Findings);
        }
    }
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

/// Why the catalogue does not know `server`'s tools, when it does not: a policy generated
/// from it would be an empty deny-all.
pub(crate) fn unread(server: &ServerCard) -> Option<String> {
    if !server.tools.is_empty() {
        return None;
    }
    let name = &server.record.name;
    Some(match &server.tools_unread {
        Some(reason) => format!("{name}: its tools could not be read ({reason})"),
        None => format!("{name}: the catalogue holds no tool for it"),
    })
}

/// Generates, warns about unclassified tools, and proves the output passes `check`.
pub(crate) fn generated_text(server: &ServerCard) -> anyhow::Result<String> {
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

fn generate_all(catalog: &Catalog, out_dir: &Path, allow_unread: bool) -> anyhow::Result<Outcome> {
    fs_err::create_dir_all(out_dir)?;
    let mut used = std::collections::HashSet::new();
    let mut out = std::io::stdout().lock();
    let mut skipped = 0usize;
    for id in catalog.server_ids()? {
        let server = catalog.server_card(id)?;
        if let Some(why) = unread(&server) {
            if allow_unread {
                eprintln!("warning: {why}");
            } else {
                eprintln!("skipped {why}");
                skipped += 1;
                continue;
            }
        }
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
    if skipped > 0 {
        eprintln!(
            "{skipped} server(s) skipped because their tools are unread; --allow-unread writes deny-all policies for them"
        );
        return Ok(Outcome::Findings);
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
                        definition_hash: tool.tool.definition_hash(),
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

/// `policy pin`: the live server's definitions become the policy's pins.
pub fn pin(args: &PolicyPinArgs) -> anyhow::Result<Outcome> {
    use crate::gateway::listing::Upstream;
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        bail!(
            "--timeout must be a positive number of seconds, not {}",
            args.timeout
        );
    }
    let upstream = match &args.upstream {
        Some(url) => Upstream::Remote(remote_entry(url, &args.upstream_header)?),
        None => Upstream::Command {
            command: args.command.clone(),
            env: Vec::new(),
            cwd: None,
        },
    };
    pin_policy(
        &args.policy,
        &upstream,
        std::time::Duration::from_secs_f64(args.timeout),
        args.dry_run,
        &mut std::io::stdout().lock(),
    )?;
    Ok(Outcome::Clean)
}

/// Pins every tool `path` has a rule for to what `upstream` lists now, reporting each
/// tool on `out` and a summary on stderr. Returns how many tools changed.
pub(crate) fn pin_policy(
    path: &Path,
    upstream: &crate::gateway::listing::Upstream,
    timeout: std::time::Duration,
    dry_run: bool,
    out: &mut impl Write,
) -> anyhow::Result<usize> {
    if !path.is_file() {
        return Err(super::BadInput(format!(
            "no policy at {}: write one with `mcpwarden policy generate SERVER --out {}`",
            path.display(),
            path.display()
        ))
        .into());
    }
    let text = fs_err::read_to_string(path)?;
    let report = policy::check(&text, None);
    if !report.is_valid() {
        for problem in report.errors() {
            eprintln!("{}: {problem}", path.display());
        }
        bail!(
            "{} is not a valid policy; fix it before pinning",
            path.display()
        );
    }
    let mut model: policy::model::Policy = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid policy", path.display()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let listed = runtime.block_on(crate::gateway::listing::list_tools(upstream, timeout))?;
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    let live: std::collections::HashMap<&str, crate::model::DefinitionHashes> = listed
        .iter()
        .filter_map(crate::model::listed_definition_hashes)
        .collect();
    let mut changed = 0usize;
    let mut missing = 0usize;
    let mut unchanged = 0usize;
    for (name, rule) in &mut model.tools {
        let Some(now) = live.get(name.as_str()) else {
            missing += 1;
            writeln!(
                out,
                "{name}: not listed by the server; its rule is left as it was"
            )?;
            continue;
        };
        let what = match (&rule.pin, &rule.pin_parts) {
            (Some(pin), _) if *pin == now.pin => {
                if rule.pin_parts.as_deref() != Some(&now.parts) {
                    rule.pin_parts = Some(Box::new(now.parts.clone()));
                    changed += 1;
                }
                unchanged += 1;
                writeln!(out, "{name}: unchanged")?;
                continue;
            }
            (None, _) => "pinned".to_owned(),
            (Some(_), Some(parts)) => {
                let parts = parts.changed(&now.parts);
                if parts.is_empty() {
                    "re-pinned".to_owned()
                } else {
                    format!("re-pinned: its {} changed", parts.join(" and "))
                }
            }
            (Some(_), None) => "re-pinned".to_owned(),
        };
        writeln!(out, "{name}: {what} ({})", now.pin)?;
        rule.pin = Some(now.pin.clone());
        rule.pin_parts = Some(Box::new(now.parts.clone()));
        changed += 1;
    }
    let unnamed: Vec<&str> = live
        .keys()
        .copied()
        .filter(|name| !model.tools.contains_key(*name) && !model.hide.iter().any(|h| h == name))
        .collect();
    if !unnamed.is_empty() {
        let mut unnamed = unnamed;
        unnamed.sort_unstable();
        let default = match model.default {
            policy::model::DefaultAction::Allow => "allow",
            policy::model::DefaultAction::Deny => "deny",
        };
        writeln!(
            out,
            "not in the policy (the default, {default}, applies; not pinned): {}",
            unnamed.join(", ")
        )?;
    }
    let ruled = live
        .keys()
        .filter(|name| model.tools.contains_key(**name))
        .count();
    eprintln!(
        "{} tool(s) listed, {ruled} with a rule in the policy: {unchanged} already pinned as listed",
        live.len()
    );
    if changed == 0 {
        eprintln!("{}: nothing to change", path.display());
    } else if dry_run {
        eprintln!(
            "{}: {changed} tool(s) would change (--dry-run: not written)",
            path.display()
        );
    } else {
        fs_err::write(path, policy::policy_text(&model))?;
        eprintln!(
            "wrote {}: {changed} tool(s) pinned to what the server lists now",
            path.display()
        );
    }
    if missing > 0 {
        eprintln!(
            "{missing} tool(s) the policy has a rule for are not listed by the server (some servers list a tool only to clients with certain capabilities); their pins are unchanged"
        );
    }
    Ok(changed)
}

/// `--upstream URL` and its `--upstream-header`s as a remote entry.
fn remote_entry(
    url: &str,
    headers: &[String],
) -> anyhow::Result<crate::gateway::config::RemoteEntry> {
    let parsed = reqwest::Url::parse(url)
        .with_context(|| format!("--upstream {url:?} is not a valid URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        bail!("--upstream {url:?} is not an http:// or https:// URL");
    }
    let mut map = std::collections::BTreeMap::new();
    for header in headers {
        let (name, value) = header
            .split_once(':')
            .with_context(|| format!("--upstream-header {header:?} is not `Name: value`"))?;
        map.insert(name.trim().to_owned(), value.trim().to_owned());
    }
    Ok(crate::gateway::config::RemoteEntry {
        url: parsed,
        headers: map,
    })
}
