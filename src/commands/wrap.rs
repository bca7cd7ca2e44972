//! `mcpwarden wrap CONFIG.json`: rewrite an MCP client's configuration so every stdio
//! server runs behind `mcpwarden gateway` with its policy, keeping a backup; `--undo`
//! restores the original commands; `--dry-run` shows the diff and writes nothing.
//!
//! A server without a policy file gets one: the package its command line runs
//! ([`super::entry_package`]) is looked up in the catalogue, crawled into it when it is not
//! there (`--no-crawl` stops that), and its recommended policy is written where the
//! wrapped entry points (`DIR/<server>.json`, the path `gateway --config` reads too).
//!
//! The file is the `mcpServers` (or VS Code's `servers`) JSON that MCP clients read. Key
//! order and every field we do not touch are kept; the file is rewritten atomically
//! (written beside it, then renamed).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;
use serde_json::{Map, Value};

use super::entry_package::{self, EntryPackage};
use super::{Settings, print_json};
use crate::catalog::Catalog;
use crate::cli::{Outcome, WrapArgs};

/// What happened to one server entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "action")]
pub enum Action {
    /// Now runs behind the gateway with this policy; `generated` says from which
    /// catalogue server, when wrap wrote it.
    Wrapped {
        policy: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        generated: Option<String>,
    },
    /// Already behind the gateway; left as it was.
    AlreadyWrapped,
    /// `--undo`: the original command is back.
    Unwrapped,
    /// Not rewritten, with why (a remote server, or no policy file).
    Skipped { reason: String },
}

#[derive(Debug, Serialize)]
struct ServerAction {
    server: String,
    #[serde(flatten)]
    action: Action,
}

#[derive(Debug, Serialize)]
struct WrapReport {
    config: String,
    backup: Option<String>,
    dry_run: bool,
    changed: bool,
    servers: Vec<ServerAction>,
}

pub fn wrap(settings: &Settings, args: &WrapArgs) -> anyhow::Result<Outcome> {
    let text = fs_err::read_to_string(&args.config).with_context(|| {
        format!(
            "cannot read the client configuration {}",
            args.config.display()
        )
    })?;
    let mut document: Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not JSON (comments and trailing commas are not supported)",
            args.config.display()
        )
    })?;
    let policies = args.policies.clone().unwrap_or_else(|| {
        args.config
            .parent()
            .unwrap_or(Path::new("."))
            .join("mcpwarden-policies")
    });
    // The client starts servers from a folder of its choosing: the paths must be absolute.
    let policies = std::path::absolute(&policies)
        .with_context(|| format!("cannot make {} absolute", policies.display()))?;
    let gateway = match &args.mcpwarden {
        Some(path) => path.clone(),
        None => std::env::current_exe()
            .context("cannot tell where this mcpwarden binary is; pass --mcpwarden PATH")?,
    };

    let servers = servers_mut(&mut document).with_context(|| {
        format!(
            "{}: no `mcpServers` (or `servers`) object: is this an MCP client configuration?",
            args.config.display()
        )
    })?;
    let mut actions = Vec::new();
    let mut generator = Generator {
        settings,
        crawl: !args.no_crawl,
        write: !args.dry_run,
        catalog: None,
    };
    for (name, entry) in servers.iter_mut() {
        let action = if args.undo {
            unwrap_entry(entry)
        } else {
            let found = generator.ensure_policy(name, entry, &policies);
            let policy = match &found {
                Ok((path, _)) => path.clone(),
                Err(_) => policy_path(&policies, name),
            };
            let pinned =
                (args.pin_live && !args.dry_run && policy.is_file() && !is_gateway_entry(entry))
                    .then(|| pin_live(entry, &policy));
            let mut action = wrap_entry(entry, &policy, &gateway, args.allow_missing_policy);
            match (&mut action, found) {
                (Action::Wrapped { generated, .. }, Ok((_, Some(from)))) => {
                    *generated = Some(from);
                }
                (Action::Skipped { reason }, Err(why)) if reason.starts_with("no policy") => {
                    reason.push_str(&format!("; {why}"));
                }
                _ => {}
            }
            if let (Action::Wrapped { generated, .. }, Some(pinned)) = (&mut action, pinned) {
                *generated = Some(match generated.take() {
                    Some(from) => format!("{from}; {pinned}"),
                    None => pinned,
                });
            }
            action
        };
        actions.push(ServerAction {
            server: name.clone(),
            action,
        });
    }

    let mut new_text = serde_json::to_string_pretty(&document)?;
    new_text.push('\n');
    let changed = new_text != text;
    let mut backup = None;
    if changed && !args.dry_run {
        let path = backup_path(&args.config);
        fs_err::copy(&args.config, &path)
            .with_context(|| format!("cannot write the backup {}", path.display()))?;
        write_atomically(&args.config, &new_text)?;
        backup = Some(path.display().to_string());
    }

    let skipped_for_policy = actions.iter().any(|item| {
        matches!(&item.action, Action::Skipped { reason } if reason.starts_with("no policy"))
    });
    if args.json {
        print_json(&WrapReport {
            config: args.config.display().to_string(),
            backup,
            dry_run: args.dry_run,
            changed,
            servers: actions,
        })?;
    } else {
        let mut out = std::io::stdout().lock();
        if args.dry_run && changed {
            let diff = similar::TextDiff::from_lines(&text, &new_text);
            write!(
                out,
                "{}",
                diff.unified_diff().context_radius(3).header(
                    &args.config.display().to_string(),
                    &format!("{} (wrapped)", args.config.display())
                )
            )?;
        }
        for item in &actions {
            let line = match &item.action {
                Action::Wrapped {
                    policy,
                    generated: None,
                } => format!("wrapped, policy {policy}"),
                Action::Wrapped {
                    policy,
                    generated: Some(from),
                } => format!("wrapped, policy {policy} ({from})"),
                Action::AlreadyWrapped => "already behind the gateway".to_owned(),
                Action::Unwrapped => "restored to its original command".to_owned(),
                Action::Skipped { reason } => format!("skipped: {reason}"),
            };
            writeln!(out, "{}: {line}", item.server)?;
        }
        drop(out);
        match (&backup, args.dry_run, changed) {
            (_, true, true) => eprintln!("dry run: nothing written"),
            (_, _, false) => eprintln!("nothing to change"),
            (Some(backup), _, true) => eprintln!(
                "rewrote {} (the original is in {backup})",
                args.config.display()
            ),
            (None, _, true) => {}
        }
    }
    Ok(if skipped_for_policy {
        Outcome::Findings
    } else {
        Outcome::Clean
    })
}

fn servers_mut(document: &mut Value) -> Option<&mut Map<String, Value>> {
    let object = document.as_object_mut()?;
    // The same key `gateway --config` reads.
    let key = crate::gateway::config::servers_key(object);
    object.get_mut(key)?.as_object_mut()
}

fn is_gateway(entry: &Map<String, Value>) -> bool {
    let command = entry.get("command").and_then(Value::as_str).unwrap_or("");
    let first_arg = entry
        .get("args")
        .and_then(Value::as_array)
        .and_then(|args| args.first())
        .and_then(Value::as_str);
    Path::new(command)
        .file_name()
        .is_some_and(|name| name.to_string_lossy().starts_with("mcpwarden"))
        && first_arg == Some("gateway")
}

fn wrap_entry(
    entry: &mut Value,
    policy: &Path,
    gateway: &Path,
    allow_missing_policy: bool,
) -> Action {
    let Some(entry) = entry.as_object_mut() else {
        return Action::Skipped {
            reason: "the entry is not an object".to_owned(),
        };
    };
    if is_gateway(entry) {
        return Action::AlreadyWrapped;
    }
    let Some(command) = entry
        .get("command")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        let reason = if entry.contains_key("url") {
            "a remote server (url): put a `mcpwarden gateway --listen` in front of it instead"
        } else {
            "no `command` to wrap"
        };
        return Action::Skipped {
            reason: reason.to_owned(),
        };
    };
    if !policy.is_file() && !allow_missing_policy {
        return Action::Skipped {
            reason: format!(
                "no policy at {}: write one with `mcpwarden policy generate SERVER --out {}`, \
                 or pass --allow-missing-policy (the gateway then refuses to start until it exists)",
                policy.display(),
                policy.display()
            ),
        };
    }
    let original_args: Vec<Value> = entry
        .get("args")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut args = vec![
        Value::from("gateway"),
        Value::from("--policy"),
        Value::from(policy.display().to_string()),
        Value::from("--"),
        Value::from(command),
    ];
    args.extend(original_args);
    entry.insert(
        "command".to_owned(),
        Value::from(gateway.display().to_string()),
    );
    entry.insert("args".to_owned(), Value::from(args));
    Action::Wrapped {
        policy: policy.display().to_string(),
        generated: None,
    }
}

fn is_gateway_entry(entry: &Value) -> bool {
    entry.as_object().is_some_and(is_gateway)
}

/// `--pin-live`: runs the entry's server as the client would and pins `policy` to what it
/// lists. Says what happened, for the report.
fn pin_live(entry: &Value, policy: &Path) -> String {
    let words = |key: &str| -> Vec<String> {
        entry
            .get(key)
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let Some(command) = entry.get("command").and_then(Value::as_str) else {
        return "not pinned: the entry has no command".to_owned();
    };
    let mut line = vec![std::ffi::OsString::from(command)];
    line.extend(words("args").into_iter().map(Into::into));
    let env = entry
        .get("env")
        .and_then(Value::as_object)
        .map(|env| {
            env.iter()
                .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    let upstream = crate::gateway::listing::Upstream::Command {
        command: line,
        env,
        cwd: entry.get("cwd").and_then(Value::as_str).map(PathBuf::from),
    };
    match super::policy::pin_policy(
        policy,
        &upstream,
        std::time::Duration::from_secs(60),
        false,
        &mut std::io::sink(),
    ) {
        Ok(0) => "its pins match the running server".to_owned(),
        Ok(changed) => format!("{changed} pin(s) taken from the running server"),
        Err(error) => format!("not pinned from the running server: {error:#}"),
    }
}

/// Where the wrapped entry `name` finds its policy.
fn policy_path(policies: &Path, name: &str) -> PathBuf {
    policies.join(format!("{}.json", file_stem(name)))
}

/// Writes missing policies from the catalogue, crawling packages it lacks.
struct Generator<'a> {
    settings: &'a Settings,
    crawl: bool,
    /// False for --dry-run: say what would be written, write and crawl nothing.
    write: bool,
    catalog: Option<Catalog>,
}

impl Generator<'_> {
    /// Finds or makes `name`'s policy: `DIR/<name>.json` when it exists; else the file
    /// `policy generate --all` wrote into DIR for the entry's package; else one generated
    /// now into `DIR/<name>.json`. Returns the path and, when it is not `DIR/<name>.json`
    /// as it was, where it came from; `Err(why not)` when there is none.
    fn ensure_policy(
        &mut self,
        name: &str,
        entry: &Value,
        policies: &Path,
    ) -> Result<(PathBuf, Option<String>), String> {
        let path = policy_path(policies, name);
        if path.is_file() {
            return Ok((path, None));
        }
        let Some(entry) = entry.as_object().filter(|entry| !is_gateway(entry)) else {
            return Ok((path, None));
        };
        let Some(command) = entry.get("command").and_then(Value::as_str) else {
            return Ok((path, None));
        };
        let args: Vec<String> = entry
            .get("args")
            .and_then(Value::as_array)
            .map(|args| {
                args.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let cwd = entry.get("cwd").and_then(Value::as_str).map(Path::new);
        let package = entry_package::package_of(command, &args, cwd).ok_or_else(|| {
            format!("cannot tell which published package `{command}` runs, so none was generated")
        })?;
        let written_by_all = |server_name: &str| {
            let path = policies.join(crate::policy::generate::policy_file_name(server_name));
            path.is_file().then(|| {
                let from = format!("written by `policy generate --all` for {server_name}");
                (path, Some(from))
            })
        };
        if let Some(found) = written_by_all(&package.name) {
            return Ok(found);
        }
        let known = self.find(&package)?;
        if let Some(found) = known
            .as_ref()
            .and_then(|server| written_by_all(&server.record.name))
        {
            return Ok(found);
        }
        let server = match known {
            Some(server) => server,
            None if !self.crawl => {
                return Err(format!(
                    "the catalogue has no {} (crawl it with `mcpwarden crawl {}`, or drop --no-crawl)",
                    package.describe(),
                    crawl_flag(&package)
                ));
            }
            None if !self.write => {
                return Err(format!(
                    "the catalogue has no {}: without --dry-run it is crawled and its policy written",
                    package.describe()
                ));
            }
            None => {
                self.crawl_package(&package)?;
                self.find(&package)?.ok_or_else(|| {
                    format!(
                        "crawling the {} stored no server for it",
                        package.describe()
                    )
                })?
            }
        };
        if let Some(why) = super::policy::unread(&server) {
            return Err(format!("{why}, so no policy was generated"));
        }
        let text = super::policy::generated_text(&server).map_err(|error| error.to_string())?;
        let from = format!("generated from the catalogue's {}", server.record.name);
        if !self.write {
            return Err(format!("without --dry-run it is {from}"));
        }
        fs_err::create_dir_all(policies)
            .and_then(|()| fs_err::write(&path, text))
            .map_err(|error| format!("cannot write the generated policy: {error}"))?;
        Ok((path, Some(from)))
    }

    /// The catalogue's server for `package`, by its package URL, then by name.
    fn find(
        &mut self,
        package: &EntryPackage,
    ) -> Result<Option<crate::catalog::ServerCard>, String> {
        let catalog = match &mut self.catalog {
            Some(catalog) => catalog,
            empty => empty.insert(
                self.settings
                    .open_catalog()
                    .map_err(|error| format!("{error:#}"))?,
            ),
        };
        let by_purl = match package.purl() {
            Some(purl) => catalog
                .resolve_server_name(None, &[purl])
                .map_err(|error| error.to_string())?,
            None => None,
        };
        let name = by_purl.unwrap_or_else(|| package.name.clone());
        super::policy::one_server(catalog, &name).map_err(|error| error.to_string())
    }

    fn crawl_package(&mut self, package: &EntryPackage) -> Result<(), String> {
        use clap::Parser;
        // The crawl opens the catalogue itself.
        self.catalog = None;
        eprintln!(
            "{} is not in the catalogue: crawling it",
            package.describe()
        );
        let flag = match package.ecosystem {
            entry_package::Ecosystem::Npm => "--npm",
            entry_package::Ecosystem::Pypi => "--pypi",
        };
        let spec = package.crawl_spec();
        let cli = crate::cli::Cli::try_parse_from(["mcpwarden", "crawl", flag, spec.as_str()])
            .map_err(|error| error.to_string())?;
        let crate::cli::Command::Crawl(args) = cli.command else {
            return Err("internal: the crawl's arguments did not parse as a crawl".to_owned());
        };
        super::crawl::crawl(self.settings, &args)
            .map(|_| ())
            .map_err(|error| format!("crawling the {} failed: {error:#}", package.describe()))
    }
}

fn crawl_flag(package: &EntryPackage) -> String {
    let flag = match package.ecosystem {
        entry_package::Ecosystem::Npm => "--npm",
        entry_package::Ecosystem::Pypi => "--pypi",
    };
    format!("{flag} {}", package.crawl_spec())
}

/// Restores `command` and `args` from what follows `--` in a wrapped entry.
fn unwrap_entry(entry: &mut Value) -> Action {
    let Some(entry) = entry.as_object_mut() else {
        return Action::Skipped {
            reason: "the entry is not an object".to_owned(),
        };
    };
    if !is_gateway(entry) {
        return Action::Skipped {
            reason: "not behind the gateway".to_owned(),
        };
    }
    let args: Vec<Value> = entry
        .get("args")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let Some(separator) = args.iter().position(|arg| arg.as_str() == Some("--")) else {
        return Action::Skipped {
            reason: "the gateway arguments have no `--` before the server command".to_owned(),
        };
    };
    let mut original = args[separator + 1..].to_vec();
    if original.is_empty() {
        return Action::Skipped {
            reason: "nothing follows `--` in the gateway arguments".to_owned(),
        };
    }
    let command = original.remove(0);
    entry.insert("command".to_owned(), command);
    entry.insert("args".to_owned(), Value::from(original));
    Action::Unwrapped
}

/// A server name as a file name: letters, digits, `-`, `_` and `.` kept, the rest `_`.
fn file_stem(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `CONFIG.json.mcpwarden-backup`, then `-2`, `-3`... so an earlier backup is never lost.
fn backup_path(config: &Path) -> PathBuf {
    let base = format!("{}.mcpwarden-backup", config.display());
    let mut candidate = PathBuf::from(&base);
    let mut n = 2;
    while candidate.exists() {
        candidate = PathBuf::from(format!("{base}-{n}"));
        n += 1;
    }
    candidate
}

fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let folder = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(folder)
        .with_context(|| format!("cannot write beside {}", path.display()))?;
    temp.write_all(text.as_bytes())?;
    temp.as_file().sync_all()?;
    if let Ok(metadata) = fs_err::metadata(path) {
        let _ = std::fs::set_permissions(temp.path(), metadata.permissions());
    }
    temp.persist(path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wrap_then_undo_restores_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("fs.json"), "{}").unwrap();
        let original =
            json!({"command": "npx", "args": ["-y", "server-fs", "/tmp"], "env": {"A": "1"}});
        let mut entry = original.clone();
        let policy = dir.path().join("fs.json");
        let action = wrap_entry(&mut entry, &policy, Path::new("/opt/mcpwarden"), false);
        assert!(matches!(action, Action::Wrapped { .. }));
        assert_eq!(entry["command"], "/opt/mcpwarden");
        assert_eq!(entry["args"][0], "gateway");
        assert_eq!(entry["args"][3], "--");
        assert_eq!(entry["args"][4], "npx");
        assert_eq!(entry["env"], json!({"A": "1"}));
        assert_eq!(
            wrap_entry(&mut entry, &policy, Path::new("/opt/mcpwarden"), false),
            Action::AlreadyWrapped
        );
        assert_eq!(unwrap_entry(&mut entry), Action::Unwrapped);
        assert_eq!(entry, original);
    }

    #[test]
    fn names_become_safe_file_names() {
        assert_eq!(file_stem("github"), "github");
        assert_eq!(file_stem("io.github/owner repo"), "io.github_owner_repo");
        assert_eq!(file_stem("../etc"), ".._etc");
    }
}
