//! One function per subcommand, each returning an [`Outcome`](crate::cli::Outcome). They
//! resolve settings, call the library and render results: text for people on stdout,
//! `--json` for scripts, messages and progress on stderr.

pub mod catalog;
pub mod classify;
pub mod crawl;
pub mod entry_package;
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

    /// Opens the catalogue, creating it when missing: for commands that write one
    /// (`crawl`, `catalog import`).
    pub fn open_catalog(&self) -> anyhow::Result<Catalog> {
        Catalog::open(&self.db)
            .with_context(|| format!("cannot open the catalogue {}", self.db.display()))
    }

    /// Opens a catalogue that must already exist: for commands that read one. A missing
    /// file is the user's input (a mistyped --db), refused with exit code 1, and nothing
    /// is created.
    pub fn open_existing_catalog(&self) -> anyhow::Result<Catalog> {
        if !self.db.exists() {
            return Err(BadInput(format!(
                "no catalogue at {} ({}): build one with `mcpwarden --db {} crawl` or \
                 `mcpwarden --db {} catalog import FILE.jsonl`",
                self.db.display(),
                self.db_chosen_by.describe(),
                self.db.display(),
                self.db.display(),
            ))
            .into());
        }
        self.open_catalog()
    }
}

/// An error in what the user gave (a missing file, a bad name): exit code 1, not 2.
#[derive(Debug)]
pub struct BadInput(pub String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// Writes `value` as pretty JSON and a newline to stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Where installed packages are cached: the flag, $MCPWARDEN_CACHE, the platform cache.
/// Always absolute: the sandbox runs the installed server from another working folder,
/// where a relative path would name nothing.
pub(crate) fn cache_dir(flag: Option<&std::path::Path>) -> anyhow::Result<std::path::PathBuf> {
    let dir = if let Some(dir) = flag {
        dir.to_owned()
    } else if let Some(dir) = std::env::var_os("MCPWARDEN_CACHE") {
        dir.into()
    } else {
        dirs::cache_dir()
            .map(|dir| dir.join("mcpwarden"))
            .context("no cache folder: pass --cache DIR or set MCPWARDEN_CACHE")?
    };
    std::path::absolute(&dir)
        .with_context(|| format!("the cache folder {} cannot be made absolute", dir.display()))
}
