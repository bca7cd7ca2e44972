//! One function per subcommand, each returning an [`Outcome`](crate::cli::Outcome). They
//! resolve settings, call the library and render results: text for people on stdout,
//! `--json` for scripts, messages and progress on stderr.

pub mod catalog;
pub mod classify;
pub mod crawl;
pub mod extract;
pub mod gateway;
pub mod policy;
pub mod report;
pub mod reporter;
pub mod wrap;

use std::path::PathBuf;

use anyhow::Context;

use crate::catalog::Catalog;

/// Where the catalogue path came from, so `catalog stats` can say which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DbChosenBy {
    Flag,
    Environment,
    Default,
}

impl DbChosenBy {
    pub fn describe(self) -> &'static str {
        match self {
            DbChosenBy::Flag => "from --db",
            DbChosenBy::Environment => "from $MCPWARDEN_DB",
            DbChosenBy::Default => "the default location",
        }
    }
}

/// Flags, environment and defaults merged once, before any command runs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub db: PathBuf,
    pub db_chosen_by: DbChosenBy,
}

impl Settings {
    pub fn resolve(db_flag: Option<PathBuf>) -> anyhow::Result<Settings> {
        let from_env = std::env::var_os("MCPWARDEN_DB").filter(|value| !value.is_empty());
        let (db, db_chosen_by) = match (db_flag, from_env) {
            (Some(path), _) => (path, DbChosenBy::Flag),
            (None, Some(path)) => (PathBuf::from(path), DbChosenBy::Environment),
            (None, None) => (
                crate::catalog::default_path().context(
                    "no data directory is known for this platform; pass --db PATH or set MCPWARDEN_DB",
                )?,
                DbChosenBy::Default,
            ),
        };
        Ok(Settings { db, db_chosen_by })
    }

    pub fn open_catalog(&self) -> anyhow::Result<Catalog> {
        Catalog::open(&self.db)
            .with_context(|| format!("cannot open the catalogue {}", self.db.display()))
    }
}

/// Writes `value` as pretty JSON and a newline to stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Where installed packages are cached: the flag, $MCPWARDEN_CACHE, the platform cache.
pub(crate) fn cache_dir(flag: Option<&std::path::Path>) -> anyhow::Result<std::path::PathBuf> {
    if let Some(dir) = flag {
        return Ok(dir.to_owned());
    }
    if let Some(dir) = std::env::var_os("MCPWARDEN_CACHE") {
        return Ok(dir.into());
    }
    dirs::cache_dir()
        .map(|dir| dir.join("mcpwarden"))
        .context("no cache folder: pass --cache DIR or set MCPWARDEN_CACHE")
}
