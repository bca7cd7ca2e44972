//! Argument parsing (clap derive) and dispatch to one function per subcommand.
//!
//! Exit codes: 0 clean; 1 a finding, a refusal or nothing found; 2 mcpwarden itself
//! failed. A closed stdout (`mcpwarden ... | head`) ends quietly.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::commands;
use crate::model::{Category, Risk};

#[derive(Debug, Parser)]
#[command(
    name = "mcpwarden",
    version,
    about = "Find MCP servers, judge how dangerous each tool is, and enforce default-deny policies",
    long_about = "mcpwarden crawls MCP servers into a SQLite catalogue, classifies every tool \
                  they expose (Read, Write, Execute, Destructive, Financial) with a risk level \
                  and a rationale, writes a default-deny policy per server, and enforces it in \
                  a gateway between an agent and the server.",
    after_help = "Examples:\n  \
                  mcpwarden catalog import data/example-catalog.jsonl\n  \
                  mcpwarden catalog show send_message\n  \
                  mcpwarden catalog search \"delete repository\" --risk Critical\n  \
                  mcpwarden catalog stats --json\n  \
                  mcpwarden report --out reports/site"
)]
pub struct Cli {
    /// The catalogue database. Defaults to $MCPWARDEN_DB, then to the platform data
    /// directory (~/.local/share/mcpwarden/catalog.db on Linux).
    #[arg(long, global = true, value_name = "PATH")]
    pub db: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Look into and maintain the catalogue: show, search, stats, import, export.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Write the catalogue as a static HTML site (opens from disk, works offline) and a
    /// Markdown summary.
    ///
    /// The site has an index with counts and a searchable table, a page per server with
    /// its recommended policy, and a page per tool. An earlier report in --out is
    /// replaced; a folder holding anything else is refused.
    Report(ReportArgs),
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Show every tool with this name, across all servers, as a readable card.
    ///
    /// Matching ignores case and treats `-`, `_` and `.` alike, so `send_message` also
    /// finds `send-message` and `Send.Message`. When no tool matches, server names are
    /// tried (the full name or its last `/` segment). When nothing matches, the closest
    /// names are suggested and the exit code is 1.
    Show(ShowArgs),
    /// Full-text search over tool names and descriptions, with filters.
    Search(SearchArgs),
    /// Counts per category, risk and source; where the catalogue is and how big.
    Stats(JsonFlag),
    /// Import servers from a JSON Lines file (see docs/catalog-format.md). Importing the
    /// same file twice changes nothing. Bad lines are reported by number and skipped;
    /// the exit code is then 1.
    Import(ImportArgs),
    /// Export every server with its tools and classifications as JSON Lines.
    Export(ExportArgs),
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A tool name (or a server name).
    pub name: String,
    #[command(flatten)]
    pub output: JsonFlag,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Words to find in tool names and descriptions (prefix matches; all must occur).
    /// Leave empty to list every tool the filters let through.
    #[arg(default_value = "")]
    pub query: String,
    /// Only tools classified in this category (Read, Write, Execute, Destructive, Financial).
    #[arg(long, value_parser = parse_category)]
    pub category: Option<Category>,
    /// Only tools at this risk (Low, Medium, High, Critical).
    #[arg(long, value_parser = parse_risk)]
    pub risk: Option<Risk>,
    /// Only tools of this server (full name or last `/` segment).
    #[arg(long)]
    pub server: Option<String>,
    /// At most this many results.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    #[command(flatten)]
    pub output: JsonFlag,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The JSON Lines file to read; `-` reads standard input.
    pub file: PathBuf,
    #[command(flatten)]
    pub output: JsonFlag,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The site folder.
    #[arg(long, value_name = "DIR", default_value = "reports/site")]
    pub out: PathBuf,
    /// The Markdown summary file.
    #[arg(long, value_name = "FILE", default_value = "reports/summary.md")]
    pub summary: PathBuf,
    #[command(flatten)]
    pub output: JsonFlag,
}

fn parse_category(text: &str) -> Result<Category, String> {
    text.parse()
}

fn parse_risk(text: &str) -> Result<Risk, String> {
    text.parse()
}

/// How a command ended, as the process exit code says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 0: done, nothing to report.
    Clean,
    /// 1: not found, findings, refused, or some input was bad.
    Findings,
}

/// Parses the process arguments, runs the command and turns the result into an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Findings) => ExitCode::from(1),
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let settings = commands::Settings::resolve(cli.db)?;
    match cli.command {
        Command::Catalog(command) => match command {
            CatalogCommand::Show(args) => commands::catalog::show(&settings, &args),
            CatalogCommand::Search(args) => commands::catalog::search(&settings, &args),
            CatalogCommand::Stats(args) => commands::catalog::stats(&settings, args.json),
            CatalogCommand::Import(args) => commands::catalog::import(&settings, &args),
            CatalogCommand::Export(args) => commands::catalog::export(&settings, &args),
        },
        Command::Report(args) => commands::report::report(&settings, &args),
    }
}
