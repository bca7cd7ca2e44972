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
                  mcpwarden classify\n  \
                  mcpwarden catalog show send_message --explain\n  \
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
    /// Discover MCP servers and store them in the catalogue: the official registry, the
    /// shipped seed list, npm and PyPI packages by name.
    ///
    /// A source that cannot be reached is reported and the others go on. An interrupted
    /// crawl (Ctrl-C, or killed) keeps what it stored; `--resume` finishes what is left
    /// without listing the sources again. Registry locations come from the flags below, the
    /// environment (npm_config_registry, PIP_INDEX_URL) or your npm and pip configuration.
    /// Exit code 1 when a source was unreachable or an item failed.
    Crawl(CrawlArgs),
    /// Generate, check, explain and compare default-deny policies.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Run an MCP server behind a policy: `mcpwarden gateway --policy P.json -- <command>`.
    ///
    /// The MCP client starts mcpwarden as if it were the server. mcpwarden starts the
    /// server, relays JSON-RPC over stdio in both directions, hides and refuses tools as the
    /// policy says, and exits with the server's exit code. The policy is reloaded when its
    /// file changes and on SIGHUP; a policy that fails validation stops the start.
    ///
    /// Several servers behind one endpoint: `mcpwarden gateway --config mcp.json
    /// --policies DIR` runs every server of an MCP client's `mcpServers` file, each under
    /// `DIR/<server>.json`, with tools named `<server>__<tool>`.
    Gateway(GatewayArgs),
    /// Read the gateway's audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Re-classify every tool in the catalogue: category, risk, signals, rationale and
    /// findings, by the built-in rules or those in --rules DIR. Run it after the rules
    /// change; each verdict records the rules' version. A summary goes to stderr.
    Classify(ClassifyArgs),
    /// Write the catalogue as a static HTML site (opens from disk, works offline) and a
    /// Markdown summary.
    ///
    /// The site has an index with counts and a searchable table, a page per server with
    /// its recommended policy, and a page per tool. An earlier report in --out is
    /// replaced; a folder holding anything else is refused.
    Report(ReportArgs),
    /// Read the tools a server defines from its source, without running anything.
    ///
    /// PATH is a checkout, an unpacked package or an archive (.tgz, .tar.gz, .zip, .whl).
    /// TypeScript/JavaScript (also compiled dist/ bundles), Python, Go and Rust sources and
    /// MCPB manifest.json files are read with tree-sitter; tools are grouped by server and
    /// each says where it was found. Tests, examples and node_modules are skipped unless
    /// asked. Exit code 1 when no tool was found.
    Extract(ExtractArgs),
    /// Start a server in the sandbox, ask it for its tools and print them, classified.
    ///
    /// Examples:
    ///   mcpwarden inspect --npm @modelcontextprotocol/server-everything@2026.8.31
    ///   mcpwarden inspect --pypi mcp-server-time==2026.1.26
    ///   mcpwarden inspect --read-only ./build -- node ./build/index.js
    ///
    /// The sandbox (bubblewrap; Debian package `bubblewrap`) gives the server no network,
    /// a read-only system, a private scratch folder as its only writable place, none of
    /// your files but those named with --read-only, none of this shell's environment but
    /// --env, and limits on memory, CPU time, processes, open files and file size; its
    /// whole process tree is killed at the end. Without a usable sandbox, inspect refuses
    /// and says why (--live-unsandboxed overrides, for servers you trust). Packages are
    /// installed without running their install scripts, cached by exact version.
    Inspect(InspectArgs),
    /// Rewrite an MCP client's configuration so every server runs behind the gateway.
    ///
    /// Each stdio server in `mcpServers` (or VS Code's `servers`) becomes
    /// `mcpwarden gateway --policy DIR/<name>.json -- <its command>`. The original file is
    /// kept as CONFIG.mcpwarden-backup; --dry-run prints the diff and writes nothing;
    /// --undo restores the original commands. Servers without a policy file are left as
    /// they are (exit code 1) unless --allow-missing-policy.
    Wrap(WrapArgs),
}

#[derive(Debug, Args)]
pub struct WrapArgs {
    /// The client configuration (claude_desktop_config.json, .cursor/mcp.json, ...).
    pub config: PathBuf,
    /// Folder of policies, one `<server name>.json` each. Default: `mcpwarden-policies`
    /// beside CONFIG.
    #[arg(long, value_name = "DIR")]
    pub policies: Option<PathBuf>,
    /// The mcpwarden binary the client should start. Default: this one.
    #[arg(long, value_name = "PATH")]
    pub mcpwarden: Option<PathBuf>,
    /// Print the diff; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Put every wrapped server back to its original command.
    #[arg(long)]
    pub undo: bool,
    /// Wrap servers that have no policy file yet and none could be generated (the gateway
    /// refuses to start without one).
    #[arg(long)]
    pub allow_missing_policy: bool,
    /// Do not crawl a package the catalogue lacks. By default, a server without a policy
    /// file whose package the entry names (npx, uvx, pipx run, node SCRIPT) is crawled
    /// into the catalogue (`--db`) and its recommended policy written where the wrapped
    /// entry points.
    #[arg(long)]
    pub no_crawl: bool,
    /// Also start each wrapped server as its entry says (command, args, env, cwd) and pin
    /// its policy to the definitions it lists (`policy pin`): for servers whose source does
    /// not say everything they list. Only run servers you trust this far.
    #[arg(long)]
    pub pin_live: bool,
    /// Print what was done as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExtractArgs {
    /// A folder or an archive (.tgz, .tar.gz, .tar, .zip, .whl).
    pub path: PathBuf,
    /// Also read tests, examples and fixtures.
    #[arg(long)]
    pub include_tests: bool,
    /// Also read node_modules, vendor and virtualenv folders.
    #[arg(long)]
    pub include_dependencies: bool,
    /// List every skipped file with its reason (by default only a count).
    #[arg(long)]
    pub show_skipped: bool,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Install this npm package at this exact version (NAME@VERSION, with your npm and
    /// --ignore-scripts) and inspect it; what follows `--` is passed to it as arguments.
    #[arg(long, value_name = "NAME@VERSION", conflicts_with = "pypi")]
    pub npm: Option<String>,
    /// Install this PyPI project at this exact version (NAME==VERSION, wheels only, in a
    /// fresh virtual environment) and inspect it; what follows `--` is passed to it.
    #[arg(long, value_name = "NAME==VERSION")]
    pub pypi: Option<String>,
    /// With --npm/--pypi: the npm `bin` or Python console script to start, when the
    /// package has several.
    #[arg(long, value_name = "NAME")]
    pub entry: Option<String>,
    /// With --pypi: start `python -m MODULE` instead of a console script.
    #[arg(long, value_name = "MODULE", requires = "pypi")]
    pub module: Option<String>,
    /// Where installed packages are kept. Default: $MCPWARDEN_CACHE, then the platform
    /// cache folder (~/.cache/mcpwarden on Linux).
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// The npm registry for --npm (default: your npm configuration).
    #[arg(long, value_name = "URL")]
    pub npm_registry: Option<String>,
    /// The PyPI index for --pypi (default: your pip configuration).
    #[arg(long, value_name = "URL")]
    pub pypi_index: Option<String>,
    /// Pass this environment variable from the caller to the server (repeatable); NAME
    /// takes the caller's value, NAME=VALUE sets one.
    #[arg(long = "env", value_name = "NAME[=VALUE]")]
    pub env: Vec<String>,
    /// Mount this file or folder read-only inside the sandbox (repeatable); the server
    /// sees nothing of yours that is not named here.
    #[arg(long = "read-only", value_name = "PATH")]
    pub read_only: Vec<PathBuf>,
    /// Create this folder in the server's scratch before it starts (repeatable); the
    /// server starts in its scratch, so an argument `./NAME` names it.
    #[arg(long = "scratch-dir", value_name = "NAME")]
    pub scratch_dirs: Vec<PathBuf>,
    /// Writable memory per server process, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 4096)]
    pub memory_mb: u64,
    /// Give up after this many seconds (start-up plus listing).
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    /// Run the server WITHOUT the sandbox: it can reach the network and read and write
    /// everything you can. Only for servers you wrote or trust.
    #[arg(long)]
    pub live_unsandboxed: bool,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// The server command and its arguments, after `--` (with --npm/--pypi: only the
    /// arguments).
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ClassifyArgs {
    /// Read the rules from every `*.toml` file in this folder instead of the built-in ones.
    #[arg(long, value_name = "DIR")]
    pub rules: Option<PathBuf>,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CrawlArgs {
    /// Sources to crawl (repeat or separate with commas). Default: registry and seeds; naming
    /// packages (--npm, --pypi) or folders (--dir) crawls just those instead. github is
    /// only crawled when asked for.
    #[arg(long = "source", value_enum, value_delimiter = ',')]
    pub sources: Vec<crate::crawl::engine::Source>,
    /// The MCP registry's base URL.
    #[arg(long, value_name = "URL", default_value = crate::crawl::registry::DEFAULT_REGISTRY_URL)]
    pub registry_url: String,
    /// Seed lists: a Markdown list (its GitHub links), repository URLs and purls one per
    /// line, or catalogue JSON Lines. Default: the shipped registry seed list.
    #[arg(long = "seeds", value_name = "FILE")]
    pub seeds: Vec<PathBuf>,
    /// npm packages to crawl by name (repeat or separate with commas); NAME@VERSION pins
    /// a version (default: the latest).
    #[arg(long = "npm", value_name = "NAME[@VERSION]", value_delimiter = ',')]
    pub npm: Vec<String>,
    /// PyPI projects to crawl by name (repeat or separate with commas); NAME==VERSION pins
    /// a version (default: the latest).
    #[arg(long = "pypi", value_name = "NAME[==VERSION]", value_delimiter = ',')]
    pub pypi: Vec<String>,
    /// Run npm and PyPI servers in the sandbox and store what they list beside what their
    /// source shows: `auto` when static reading found no tool or left some unresolved,
    /// `always`, or `never`. Needs bubblewrap; without it `auto` says so and goes on
    /// static only, `always` refuses to start.
    #[arg(long, value_enum, default_value = "auto")]
    pub live: crate::crawl::live::LiveMode,
    /// Run servers for --live WITHOUT the sandbox (your network, files and permissions).
    /// Only for packages you trust.
    #[arg(long)]
    pub live_unsandboxed: bool,
    /// Seconds a server may take to start and list its tools, for --live.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub live_timeout: u64,
    /// Where --live keeps installed packages. Default: $MCPWARDEN_CACHE, then the
    /// platform cache folder (~/.cache/mcpwarden on Linux).
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// The npm registry; default: $npm_config_registry, then `npm config get registry`.
    #[arg(long, value_name = "URL")]
    pub npm_registry: Option<String>,
    /// The PyPI index; default: $PIP_INDEX_URL, then pip's configuration.
    #[arg(long, value_name = "URL")]
    pub pypi_index: Option<String>,
    /// The GitHub API's base URL (GitHub Enterprise: https://HOST/api/v3). The token, if
    /// any, comes from $GITHUB_TOKEN; without one, code search is skipped.
    #[arg(long, value_name = "URL", env = "MCPWARDEN_GITHUB_URL", default_value = crate::crawl::github::DEFAULT_GITHUB_API)]
    pub github_url: String,
    /// Local checkouts to crawl: a checkout, or a folder whose subfolders are checkouts
    /// (repeatable). Naming one alone means "crawl these".
    #[arg(long = "dir", value_name = "PATH")]
    pub dirs: Vec<PathBuf>,
    /// Stop after storing this many servers.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Only registry entries updated since this time, and GitHub repositories pushed since
    /// it: a date (YYYY-MM-DD, midnight UTC) or an RFC 3339 time.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// List every source in full: ignore the registry time and GitHub search windows the
    /// last crawl remembered (a re-crawl is incremental otherwise).
    #[arg(long)]
    pub full: bool,
    /// Finish the last interrupted crawl instead of starting a new one.
    #[arg(long)]
    pub resume: bool,
    /// Fetches in flight at once (at most 4 per host).
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Store servers without downloading their packages to extract and classify tools.
    #[arg(long)]
    pub no_extract: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
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
    /// List every classification rule that fires for each tool, with its weight.
    #[arg(long)]
    pub explain: bool,
    /// With --explain: explain by the rules in this folder instead of the built-in ones.
    #[arg(long, value_name = "DIR", requires = "explain")]
    pub rules: Option<PathBuf>,
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
    /// Only tools of servers whose GitHub repository is archived (unmaintained code that
    /// agents may still run).
    #[arg(long, conflicts_with = "exclude_archived")]
    pub archived: bool,
    /// Leave out tools of servers whose repository is archived.
    #[arg(long)]
    pub exclude_archived: bool,
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

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Write the recommended default-deny policy for a server from its classifications.
    Generate(PolicyGenerateArgs),
    /// Validate a policy: shape, semantics and, when the catalogue knows the server, the
    /// argument names. Exit 0 valid, 1 not valid, 2 mcpwarden failed.
    Check(PolicyCheckArgs),
    /// Say what the gateway would do with a call, and why (a dry run of its engine).
    /// Exit 0 allowed, 1 refused, hidden or needing approval.
    Explain(PolicyExplainArgs),
    /// Say what changed between two policies, looser changes first. Exit 1 when anything
    /// got looser.
    Diff(PolicyDiffArgs),
    /// Record the tools' definitions as the running server lists them: starts the server
    /// the way the gateway does, reads its `tools/list` and sets `pin` (and `pin_parts`) of
    /// every tool the policy has a rule for. Use it after reviewing a changed definition the
    /// gateway refused, or for a server whose source does not say everything it lists.
    #[command(after_help = "Examples:\n  \
        mcpwarden policy pin --policy everything.json -- npx -y @modelcontextprotocol/server-everything@2026.8.31\n  \
        mcpwarden policy pin --policy remote.json --upstream http://127.0.0.1:8080/mcp\n\n\
        A tool the policy has a rule for that the server does not list keeps its pin. Tools the server\n\
        lists that the policy does not name are reported, not added: the default applies to them.\n\
        Exit 0 when the file was written (or nothing changed), 2 when the server could not be asked.")]
    Pin(PolicyPinArgs),
    /// Print the policy JSON Schema (as checked in at data/policy.schema.json).
    Schema,
}

#[derive(Debug, Args)]
pub struct PolicyGenerateArgs {
    /// The server (full name or last `/` segment).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub server: Option<String>,
    /// Write here instead of standard output.
    #[arg(long, value_name = "FILE", conflicts_with = "all")]
    pub out: Option<PathBuf>,
    /// Every server in the catalogue, one file each in --out-dir.
    #[arg(long)]
    pub all: bool,
    /// Where --all writes.
    #[arg(long, value_name = "DIR", default_value = "reports/policies")]
    pub out_dir: PathBuf,
    /// Write the policy even for a server whose tools the catalogue could not read (stored
    /// with no tools, or with a reason they are unread). Such a policy names no tool, so
    /// the gateway denies every one; without this flag the server is refused with exit 1.
    #[arg(long)]
    pub allow_unread: bool,
}

#[derive(Debug, Args)]
pub struct PolicyPinArgs {
    /// The policy file to update in place.
    #[arg(long, value_name = "FILE")]
    pub policy: PathBuf,
    /// Ask this Streamable HTTP server instead of running a command.
    #[arg(long, value_name = "URL", conflicts_with = "command")]
    pub upstream: Option<String>,
    /// A header added to every request to --upstream, as `Name: value` (repeatable).
    #[arg(long, value_name = "HEADER", requires = "upstream")]
    pub upstream_header: Vec<String>,
    /// Seconds the server may take to start and list its tools.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    pub timeout: f64,
    /// Say what would change without writing the file.
    #[arg(long)]
    pub dry_run: bool,
    /// The server to run, and its arguments, as the gateway runs it.
    #[arg(
        last = true,
        required_unless_present = "upstream",
        value_name = "COMMAND"
    )]
    pub command: Vec<std::ffi::OsString>,
}

#[derive(Debug, Args)]
pub struct PolicyCheckArgs {
    pub file: PathBuf,
    /// Check argument names against this catalogue server (default: the file's
    /// `x-mcpwarden.server`, when the catalogue knows it).
    #[arg(long)]
    pub server: Option<String>,
    #[command(flatten)]
    pub output: JsonFlag,
}

#[derive(Debug, Args)]
pub struct PolicyExplainArgs {
    pub file: PathBuf,
    /// The tool called (exact, case-sensitive).
    #[arg(long)]
    pub tool: String,
    /// The call's arguments as a JSON object.
    #[arg(long, value_name = "JSON")]
    pub args: Option<String>,
    /// The grant (credential) the call comes with.
    #[arg(long)]
    pub grant: Option<String>,
    /// The MCP session the call comes in.
    #[arg(long)]
    pub session: Option<String>,
    /// The tool's current definition hash, to check the pin against.
    #[arg(long, value_name = "HASH")]
    pub definition_hash: Option<String>,
    /// Make this many identical calls at once and report the last (to see limits bite).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub repeat: u32,
    /// The time of the call, RFC 3339 (default: now).
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    #[command(flatten)]
    pub output: JsonFlag,
}

#[derive(Debug, Args)]
pub struct GatewayArgs {
    /// The policy to enforce (checked like `policy check`; errors stop the start).
    #[arg(long, value_name = "FILE", required_unless_present = "config")]
    pub policy: Option<PathBuf>,
    /// Run every server of an MCP client's `mcpServers` JSON behind one endpoint, each
    /// with its own policy (`--policies DIR/<server>.json`); tools are named
    /// `<server>__<tool>`. Entries with `command` are started as children; entries with
    /// `url` are remote Streamable HTTP servers, called with their own `headers`.
    /// `${NAME}` in the entries is filled in from the environment.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["policy", "command", "upstream", "in_process_test_upstream"]
    )]
    pub config: Option<PathBuf>,
    /// With --config: the folder of policies, one `<server>.json` each. Default:
    /// `mcpwarden-policies` beside the config file (as `wrap` uses).
    #[arg(long, value_name = "DIR", requires = "config")]
    pub policies: Option<PathBuf>,
    /// Record every decision: `.jsonl` for JSON Lines, `.db`/`.sqlite` for a SQLite table.
    #[arg(long, value_name = "PATH")]
    pub audit: Option<PathBuf>,
    /// Record argument values in the audit, not only their keys.
    #[arg(long)]
    pub audit_values: bool,
    /// Seconds a request may wait for the upstream before the client gets an error.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    pub call_timeout: f64,
    /// Client messages longer than this many bytes are refused unread.
    #[arg(long, value_name = "BYTES", default_value_t = 4 << 20)]
    pub max_message_bytes: usize,
    /// Do not watch the policy file (SIGHUP still reloads it).
    #[arg(long)]
    pub no_watch: bool,
    /// Serve Streamable HTTP on this address (`/mcp`) instead of stdio; each HTTP session
    /// gets its own child server.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// An Origin allowed to call the HTTP gateway (repeatable). Localhost origins are
    /// allowed when listening on a loopback address; every other Origin gets 403.
    #[arg(long, value_name = "ORIGIN", requires = "listen")]
    pub allow_origin: Vec<String>,
    /// Bearer tokens (stored as SHA-256 hashes) and the grant each holds; with it, HTTP
    /// requests without a valid token get 401.
    #[arg(long, value_name = "FILE", requires = "listen")]
    pub grants: Option<PathBuf>,
    /// At most this many HTTP sessions (each with its own server process) at once; an
    /// `initialize` past it gets 503.
    #[arg(long, value_name = "N", default_value_t = 1024, requires = "listen")]
    pub max_sessions: usize,
    /// With --listen: serve HTTP on this many threads, each with its own event loop
    /// (default: one per core). A connection stays on the thread that accepted it, so a
    /// call never waits for a hand-off between threads.
    #[arg(long, value_name = "N", requires = "listen", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub http_threads: Option<u16>,
    /// With --listen: after forwarding a call, poll for the answer this many microseconds
    /// before letting the serving thread sleep. Trades up to that much CPU per call for
    /// not paying a thread wake-up when the upstream answers quickly.
    #[arg(long, value_name = "MICROSECONDS", default_value_t = 0, requires = "listen", value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub spin_us: u32,
    /// With --listen: forward to this remote Streamable HTTP server instead of running a
    /// command. The client's headers (Authorization included) are never forwarded.
    #[arg(
        long,
        value_name = "URL",
        requires = "listen",
        conflicts_with = "command"
    )]
    pub upstream: Option<String>,
    /// A header added to every request to --upstream, as `Name: value` (repeatable).
    #[arg(long, value_name = "HEADER", requires = "upstream")]
    pub upstream_header: Vec<String>,
    /// Hidden, for benchmarks and tests: with --listen, the upstream is a test server
    /// running inside the gateway (the tools of `mcpwarden-test-server`), so a measurement
    /// sees the gateway alone. It logs what it receives to `MCPWARDEN_TEST_LOG` if set.
    #[arg(
        long,
        hide = true,
        requires = "listen",
        conflicts_with_all = ["command", "upstream", "config"]
    )]
    pub in_process_test_upstream: bool,
    /// The server to run, and its arguments.
    #[arg(
        last = true,
        required_unless_present_any = ["upstream", "config", "in_process_test_upstream"],
        value_name = "COMMAND"
    )]
    pub command: Vec<std::ffi::OsString>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Print the records of an audit (JSON Lines or SQLite); with -f, keep following it.
    Tail(AuditTailArgs),
}

#[derive(Debug, Args)]
pub struct AuditTailArgs {
    pub path: PathBuf,
    /// Keep printing new records as they are written.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Print only the last N records first.
    #[arg(short = 'n', long, value_name = "N")]
    pub lines: Option<usize>,
    #[command(flatten)]
    pub output: JsonFlag,
}

#[derive(Debug, Args)]
pub struct PolicyDiffArgs {
    pub old: PathBuf,
    pub new: PathBuf,
    #[command(flatten)]
    pub output: JsonFlag,
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
    /// The exit code of a process mcpwarden ran for (the gateway's upstream).
    Exit(u8),
}

/// Parses the process arguments, runs the command and turns the result into an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Findings) => ExitCode::from(1),
        Ok(Outcome::Exit(code)) => ExitCode::from(code),
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) if error.downcast_ref::<commands::BadInput>().is_some() => {
            eprintln!("error: {error}");
            ExitCode::from(1)
        }
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
        Command::Policy(command) => match command {
            PolicyCommand::Generate(args) => commands::policy::generate(&settings, &args),
            PolicyCommand::Check(args) => commands::policy::check(&settings, &args),
            PolicyCommand::Explain(args) => commands::policy::explain(&args),
            PolicyCommand::Diff(args) => commands::policy::diff(&args),
            PolicyCommand::Pin(args) => commands::policy::pin(&args),
            PolicyCommand::Schema => commands::policy::schema(),
        },
        Command::Gateway(args) => commands::gateway::gateway(&args),
        Command::Audit(AuditCommand::Tail(args)) => commands::gateway::audit_tail(&args),
        Command::Classify(args) => commands::classify::classify(&settings, &args),
        Command::Crawl(args) => commands::crawl::crawl(&settings, &args),
        Command::Report(args) => commands::report::report(&settings, &args),
        Command::Extract(args) => commands::extract::extract(&args),
        Command::Inspect(args) => commands::extract::inspect(&args),
        Command::Wrap(args) => commands::wrap::wrap(&settings, &args),
    }
}
