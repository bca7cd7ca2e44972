//! The static HTML catalogue site and the Markdown summary of the catalogue.
//!
//! [`generate`] reads every server from the catalogue in name order, in batches, and
//! renders each server's page and its tools' pages on the rayon pool while the next batch
//! is read, so memory holds a few batches, never the catalogue. The index page's search
//! data is written as numbered JavaScript chunks (`data/servers-00000.js`, ...) that call
//! a global function, because pages opened from `file://` may not `fetch()`.
//!
//! Site layout, relative to the output folder:
//! - `index.html`, `assets/style.css`, `assets/site.js`, `data/manifest.js`, `data/servers-*.js`
//! - `servers/<server-slug>/index.html`: one server, its tools and its recommended policy
//! - `servers/<server-slug>/<tool-slug>.html`: one tool
//!
//! *Invariant*: every byte that came from the catalogue is escaped where it is written
//! (maud escapes HTML; the data chunks are JSON read by `textContent`), and every path is
//! built from [`slug`]s, so no catalogue entry can inject markup or write outside the
//! output folder.

mod pages;
pub mod slug;
mod summary;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;

use crate::catalog::{self, Catalog, ServerCard};
use crate::model::{Category, Risk};
use crate::progress::Progress;

pub use summary::SUMMARY_TOP;

/// Gives the recommended policy (as `policy.json` would hold it) for a server, or `None`
/// when there is none yet. Called once per server, from several threads at once.
pub type PolicyHook<'a> = &'a (dyn Fn(&ServerCard) -> Option<Value> + Sync);

/// A [`PolicyHook`] that never has a policy: pages say "no recommended policy yet".
pub fn no_policy(_server: &ServerCard) -> Option<Value> {
    None
}

/// Where to write.
#[derive(Debug, Clone)]
pub struct ReportConfig {
    /// The site folder. Created if missing; if it holds an earlier report it is replaced,
    /// and if it holds anything else the report refuses to write there.
    pub out_dir: PathBuf,
    /// The Markdown summary file; `None` writes none.
    pub summary_path: Option<PathBuf>,
}

/// What a report run wrote, as `mcpwarden report --json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportSummary {
    pub out_dir: PathBuf,
    pub index: PathBuf,
    pub summary: Option<PathBuf>,
    pub servers: u64,
    pub tools: u64,
    pub classified: u64,
    /// Servers the policy hook gave a recommended policy for.
    pub servers_with_policy: u64,
    /// HTML pages written: the index, one per server, one per tool.
    pub pages: u64,
    /// Search data chunks under `data/`.
    pub data_chunks: u64,
    /// Classified tools per category, every category listed.
    pub by_category: BTreeMap<Category, u64>,
    /// Classified tools per risk, every risk listed.
    pub by_risk: BTreeMap<Risk, u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot create the report folder {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot remove the earlier report's {path}")]
    Remove {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} is not empty and holds no earlier mcpwarden report (no {MARKER} file); \
         choose an empty or new folder for --out"
    )]
    NotAReportDir { path: PathBuf },
    #[error("{path} exists and is not a folder; choose another --out")]
    NotADir { path: PathBuf },
    #[error("cannot read the catalogue")]
    Catalog(#[from] catalog::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The file that marks a folder as an mcpwarden report, so a later run may replace it.
pub const MARKER: &str = ".mcpwarden-report";

/// Servers read from the catalogue and handed to the renderers at a time.
const BATCH_SERVERS: usize = 256;

/// A search data chunk is closed once it holds this many tools (or [`CHUNK_SERVERS`]
/// servers): small enough that the first page of the index shows after one short file.
const CHUNK_TOOLS: usize = 5_000;
const CHUNK_SERVERS: usize = 2_000;

/// Longest description text kept in the search data, in characters.
const SEARCH_DESCRIPTION_CHARS: usize = 160;

/// Writes the site under `config.out_dir` and, if asked, the Markdown summary.
pub fn generate(
    catalog: &Catalog,
    config: &ReportConfig,
    policy: PolicyHook<'_>,
    progress: &dyn Progress,
) -> Result<ReportSummary> {
    let out = &config.out_dir;
    prepare_out_dir(out)?;
    write_file(&out.join("assets/style.css"), pages::STYLE_CSS.as_bytes())?;
    write_file(&out.join("assets/site.js"), pages::SITE_JS.as_bytes())?;

    let ids = catalog.server_ids()?;
    progress.start("report", Some(ids.len() as u64));

    let mut totals = Totals::default();
    let (sender, receiver) = mpsc::sync_channel::<Vec<(ServerCard, String)>>(2);
    let rendered = std::thread::scope(|scope| -> Result<()> {
        let totals = &mut totals;
        let writer = scope.spawn(move || -> Result<()> {
            let mut chunks = ChunkWriter::new(out.join("data"));
            for batch in receiver {
                let rows: Vec<ServerOutcome> = batch
                    .into_par_iter()
                    .map(|(card, slug)| render_server(out, card, slug, policy))
                    .collect::<Result<_>>()?;
                progress.advance(rows.len() as u64);
                for row in rows {
                    totals.add(&row);
                    chunks.push(row.search)?;
                }
            }
            totals.data_chunks = chunks.finish()?;
            Ok(())
        });

        let mut server_slugs = slug::SlugAllocator::new();
        let mut read_result = Ok(());
        for ids in ids.chunks(BATCH_SERVERS) {
            let batch: Result<Vec<(ServerCard, String)>> = ids
                .iter()
                .map(|&id| {
                    let card = catalog.server_card(id)?;
                    let slug = server_slugs.allocate(&card.record.name, "server");
                    Ok((card, slug))
                })
                .collect();
            match batch {
                // A failed send means the writer stopped on an error; it is reported below.
                Ok(batch) => {
                    if sender.send(batch).is_err() {
                        break;
                    }
                }
                Err(error) => {
                    read_result = Err(error);
                    break;
                }
            }
        }
        drop(sender);
        let written = writer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        written.and(read_result)?;
        remove_stale_servers(&out.join("servers"), server_slugs.used())
    });
    progress.finish();
    rendered?;

    let data_files: Vec<String> = (0..totals.data_chunks).map(chunk_file_name).collect();
    write_file(
        &out.join("data/manifest.js"),
        pages::manifest_js(&data_files, totals.servers, totals.tools).as_bytes(),
    )?;
    let index = out.join("index.html");
    write_file(&index, pages::index_page(&totals.counts()).as_bytes())?;
    if let Some(path) = &config.summary_path {
        let text = summary::render(&totals.counts(), &totals.top_risky, &totals.dangerous);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            create_dir(parent)?;
        }
        write_file(path, text.as_bytes())?;
    }
    let counts = totals.counts();
    Ok(ReportSummary {
        out_dir: out.clone(),
        index,
        summary: config.summary_path.clone(),
        servers: totals.servers,
        tools: totals.tools,
        classified: counts.classified,
        servers_with_policy: totals.servers_with_policy,
        pages: 1 + totals.servers + totals.tools,
        data_chunks: totals.data_chunks as u64,
        by_category: counts.by_category,
        by_risk: counts.by_risk,
    })
}

/// Makes `out` an empty report folder: creates it, or clears an earlier report from it.
/// A non-empty folder without [`MARKER`] is refused: `--out ~` must never delete a home.
fn prepare_out_dir(out: &Path) -> Result<()> {
    match std::fs::metadata(out) {
        Ok(meta) if !meta.is_dir() => {
            return Err(Error::NotADir {
                path: out.to_owned(),
            });
        }
        Ok(_) => {
            let empty = std::fs::read_dir(out)
                .map_err(|source| Error::CreateDir {
                    path: out.to_owned(),
                    source,
                })?
                .next()
                .is_none();
            if !empty && !out.join(MARKER).is_file() {
                return Err(Error::NotAReportDir {
                    path: out.to_owned(),
                });
            }
            // Only what a report writes is removed, so a file someone added survives.
            // `servers/` is kept and updated in place (see `render_server`): deleting
            // 100,000 pages first costs more than writing them.
            for name in ["data", "assets"] {
                let path = out.join(name);
                if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                        .map_err(|source| Error::Remove { path, source })?;
                }
            }
        }
        Err(_) => create_dir(out)?,
    }
    write_file(
        &out.join(MARKER),
        b"Written by `mcpwarden report`. The next run replaces this folder's servers/, data/ and assets/.\n",
    )?;
    for name in ["servers", "data", "assets"] {
        create_dir(&out.join(name))?;
    }
    Ok(())
}

fn create_dir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|source| Error::CreateDir {
        path: path.to_owned(),
        source,
    })
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|source| Error::Write {
        path: path.to_owned(),
        source,
    })
}

/// Writes a page unless the file already holds exactly these bytes: re-running a report
/// over a catalogue that changed a little rewrites a little.
fn write_page(path: &Path, bytes: &[u8], may_exist: bool) -> Result<()> {
    if may_exist && std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    write_file(path, bytes)
}

/// Removes the pages of tools a server no longer has from its folder.
fn remove_stale_pages(folder: &Path, tool_slugs: &[String]) -> Result<()> {
    let entries = std::fs::read_dir(folder).map_err(|source| Error::Remove {
        path: folder.to_owned(),
        source,
    })?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let stale = match name.to_str().and_then(|name| name.strip_suffix(".html")) {
            Some(stem) => stem != "index" && !tool_slugs.iter().any(|slug| slug == stem),
            // Nothing else belongs in a server folder.
            None => true,
        };
        if stale {
            remove_path(&entry.path())?;
        }
    }
    Ok(())
}

fn remove_path(path: &Path) -> Result<()> {
    let removed = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    removed.map_err(|source| Error::Remove {
        path: path.to_owned(),
        source,
    })
}

/// Removes the folders of servers that are no longer in the catalogue.
fn remove_stale_servers(servers: &Path, current: &HashSet<String>) -> Result<()> {
    let entries = std::fs::read_dir(servers).map_err(|source| Error::Remove {
        path: servers.to_owned(),
        source,
    })?;
    for entry in entries.flatten() {
        let keep = entry
            .file_name()
            .to_str()
            .is_some_and(|name| current.contains(name));
        if !keep {
            remove_path(&entry.path())?;
        }
    }
    Ok(())
}

fn chunk_file_name(index: usize) -> String {
    format!("servers-{index:05}.js")
}

/// One server as the index's search data holds it:
/// `[name, slug, title, [[tool, tool slug, category, risk, description], ...]]`.
type SearchServer = (String, String, Option<String>, Vec<SearchTool>);
type SearchTool = (String, String, Option<Category>, Option<Risk>, String);

/// What rendering one server hands back for the index, the totals and the summary.
struct ServerOutcome {
    search: SearchServer,
    has_policy: bool,
    risky_tools: Vec<summary::RiskyTool>,
    dangerous: summary::DangerousServer,
}

/// Renders and writes one server's page and its tools' pages.
fn render_server(
    out: &Path,
    card: ServerCard,
    slug: String,
    policy: PolicyHook<'_>,
) -> Result<ServerOutcome> {
    let folder = out.join("servers").join(&slug);
    let existed = match std::fs::create_dir(&folder) {
        Ok(()) => false,
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => true,
        Err(source) => {
            return Err(Error::CreateDir {
                path: folder,
                source,
            });
        }
    };
    let recommended = policy(&card);
    let mut tool_slugs = slug::SlugAllocator::new();
    let tool_slugs: Vec<String> = card
        .tools
        .iter()
        .map(|tool| tool_slugs.allocate(&tool.tool.name, "tool"))
        .collect();
    let page = pages::server_page(&card, &tool_slugs, recommended.as_ref());
    write_page(&folder.join("index.html"), page.as_bytes(), existed)?;
    for (tool, tool_slug) in card.tools.iter().zip(&tool_slugs) {
        let rule = pages::RecommendedRule::of(recommended.as_ref(), &tool.tool.name);
        let page = pages::tool_page(&card, tool, &rule);
        write_page(
            &folder.join(format!("{tool_slug}.html")),
            page.as_bytes(),
            existed,
        )?;
    }
    if existed {
        remove_stale_pages(&folder, &tool_slugs)?;
    }

    let mut dangerous = summary::DangerousServer {
        name: card.record.name.clone(),
        execute: 0,
        destructive: 0,
        financial: 0,
    };
    let mut risky_tools = Vec::new();
    let mut search_tools = Vec::with_capacity(card.tools.len());
    for (tool, tool_slug) in card.tools.iter().zip(tool_slugs) {
        let classification = tool.classification.as_ref();
        if let Some(classification) = classification {
            match classification.category {
                Category::Execute => dangerous.execute += 1,
                Category::Destructive => dangerous.destructive += 1,
                Category::Financial => dangerous.financial += 1,
                Category::Read | Category::Write => {}
            }
            if classification.risk >= Risk::High {
                risky_tools.push(summary::RiskyTool::new(
                    &card.record.name,
                    tool,
                    classification,
                ));
            }
        }
        search_tools.push((
            tool.tool.name.clone(),
            tool_slug,
            classification.map(|c| c.category),
            classification.map(|c| c.risk),
            pages::truncate(&tool.tool.description, SEARCH_DESCRIPTION_CHARS),
        ));
    }
    Ok(ServerOutcome {
        search: (card.record.name, slug, card.record.title, search_tools),
        has_policy: recommended.is_some(),
        risky_tools,
        dangerous,
    })
}

/// Counts the index page and the summary show.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counts {
    pub servers: u64,
    pub tools: u64,
    pub classified: u64,
    pub by_category: BTreeMap<Category, u64>,
    pub by_risk: BTreeMap<Risk, u64>,
}

/// Everything the run accumulates across servers: small, whatever the catalogue's size.
#[derive(Default)]
struct Totals {
    servers: u64,
    tools: u64,
    servers_with_policy: u64,
    by_category: BTreeMap<Category, u64>,
    by_risk: BTreeMap<Risk, u64>,
    top_risky: summary::TopRisky,
    dangerous: summary::TopDangerous,
    data_chunks: usize,
}

impl Totals {
    fn add(&mut self, outcome: &ServerOutcome) {
        self.servers += 1;
        self.tools += outcome.search.3.len() as u64;
        self.servers_with_policy += u64::from(outcome.has_policy);
        for (_, _, category, risk, _) in &outcome.search.3 {
            if let Some(category) = category {
                *self.by_category.entry(*category).or_default() += 1;
            }
            if let Some(risk) = risk {
                *self.by_risk.entry(*risk).or_default() += 1;
            }
        }
        for tool in &outcome.risky_tools {
            self.top_risky.offer(tool.clone());
        }
        self.dangerous.offer(outcome.dangerous.clone());
    }

    fn counts(&self) -> Counts {
        let by_category: BTreeMap<Category, u64> = Category::ALL
            .iter()
            .map(|c| (*c, self.by_category.get(c).copied().unwrap_or(0)))
            .collect();
        let by_risk = Risk::ALL
            .iter()
            .map(|r| (*r, self.by_risk.get(r).copied().unwrap_or(0)))
            .collect();
        Counts {
            servers: self.servers,
            tools: self.tools,
            classified: by_category.values().sum(),
            by_category,
            by_risk,
        }
    }
}

/// Collects search rows and writes them as numbered chunk files.
struct ChunkWriter {
    folder: PathBuf,
    rows: Vec<SearchServer>,
    tools: usize,
    written: usize,
}

impl ChunkWriter {
    fn new(folder: PathBuf) -> ChunkWriter {
        ChunkWriter {
            folder,
            rows: Vec::new(),
            tools: 0,
            written: 0,
        }
    }

    fn push(&mut self, row: SearchServer) -> Result<()> {
        self.tools += row.3.len();
        self.rows.push(row);
        if self.tools >= CHUNK_TOOLS || self.rows.len() >= CHUNK_SERVERS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let path = self.folder.join(chunk_file_name(self.written));
        let text = pages::chunk_js(self.written, &self.rows);
        write_file(&path, text.as_bytes())?;
        self.written += 1;
        self.rows.clear();
        self.tools = 0;
        Ok(())
    }

    /// Writes what is left; the number of chunk files written.
    fn finish(mut self) -> Result<usize> {
        self.flush()?;
        Ok(self.written)
    }
}
