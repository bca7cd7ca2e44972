//! `mcpwarden crawl`: resolve the crawl's settings, run it on a tokio runtime with Ctrl-C
//! as the stop signal, print the summary.

use std::io::Write;
use std::sync::{Arc, Mutex};

use anyhow::Context;

use super::{Settings, print_json};
use crate::cli::{CrawlArgs, Outcome};
use crate::crawl::engine::{self, CrawlConfig, CrawlSummary, Source};

pub fn crawl(settings: &Settings, args: &CrawlArgs) -> anyhow::Result<Outcome> {
    let catalog = Arc::new(Mutex::new(settings.open_catalog()?));
    let mut config = config_from(args);
    config.live = live_runner(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let reporter = super::reporter::CrawlReporter::new();
    let stop = async {
        // If the signal handler cannot be installed, the crawl simply runs to its end.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let summary = runtime
        .block_on(engine::crawl(catalog, config, &reporter, stop))
        .context("the crawl failed")?;
    if args.json {
        print_json(&summary)?;
    } else {
        write_summary(
            &mut std::io::stderr().lock(),
            &summary,
            &settings.db.display().to_string(),
        )?;
    }
    Ok(if summary.has_problems() || summary.status != "finished" {
        Outcome::Findings
    } else {
        Outcome::Clean
    })
}

fn config_from(args: &CrawlArgs) -> CrawlConfig {
    let mut sources = args.sources.clone();
    if sources.is_empty() {
        sources = vec![Source::Registry, Source::Seeds];
        if !args.npm.is_empty() {
            sources.push(Source::Npm);
        }
        if !args.pypi.is_empty() {
            sources.push(Source::Pypi);
        }
        if !args.dirs.is_empty() {
            sources.push(Source::Local);
        }
        // Naming packages or folders alone means "crawl these": no registry listing then.
        if !args.npm.is_empty() || !args.pypi.is_empty() || !args.dirs.is_empty() {
            sources.retain(|source| !matches!(source, Source::Registry | Source::Seeds));
        }
    }
    sources.sort();
    sources.dedup();
    CrawlConfig {
        sources,
        registry_url: args.registry_url.clone(),
        seed_files: args.seeds.clone(),
        npm_registry: args.npm_registry.clone(),
        pypi_index: args.pypi_index.clone(),
        npm_packages: args.npm.clone(),
        pypi_packages: args.pypi.clone(),
        github_url: crate::crawl::github::github_api_url(Some(&args.github_url)),
        github_token: std::env::var("GITHUB_TOKEN")
            .ok()
            .filter(|token| !token.trim().is_empty()),
        local_dirs: args.dirs.clone(),
        limit: args.limit,
        since: args.since.clone(),
        full_listing: args.full,
        resume: args.resume,
        concurrency: args.concurrency,
        extract_tools: !args.no_extract,
        // --concurrency bounds the requests in flight too; the per-host cap stays polite.
        http: crate::crawl::http::HttpConfig {
            max_concurrency: args.concurrency.max(1),
            ..crate::crawl::http::HttpConfig::default()
        },
        ..CrawlConfig::default()
    }
}

/// The crawl's live runner, as `--live` says: the sandbox is checked once, before the
/// crawl. `auto` without a usable sandbox goes on static only and says why; `always`
/// refuses.
fn live_runner(args: &CrawlArgs) -> anyhow::Result<crate::crawl::live::SharedLiveRunner> {
    use crate::crawl::live::{LiveMode, LiveRunner};
    if args.live == LiveMode::Never || args.no_extract {
        return Ok(None);
    }
    let sandbox = if args.live_unsandboxed {
        eprintln!(
            "WARNING: --live-unsandboxed: crawled servers run with your network, files and \
             permissions. Only do this for packages you trust."
        );
        None
    } else {
        match crate::sandbox::Sandbox::detect() {
            Ok(sandbox) => Some(sandbox),
            Err(error) if args.live == LiveMode::Auto => {
                eprintln!("live introspection is off for this crawl: {error}");
                return Ok(None);
            }
            Err(error) => return Err(error).context("--live always needs a sandbox"),
        }
    };
    Ok(Some(Arc::new(LiveRunner::new(
        args.live,
        sandbox,
        super::cache_dir(args.cache.as_deref())?,
        crate::sandbox::install::Registries {
            npm: args.npm_registry.clone(),
            pypi: args.pypi_index.clone(),
        },
        std::time::Duration::from_secs(args.live_timeout.max(1)),
    ))))
}

fn write_summary(out: &mut impl Write, summary: &CrawlSummary, db: &str) -> std::io::Result<()> {
    writeln!(
        out,
        "crawl run {} {} in {:.1} s{} into {db}",
        summary.run_id,
        summary.status,
        summary.seconds,
        if summary.resumed { " (resumed)" } else { "" }
    )?;
    for (name, source) in &summary.sources {
        match &source.unreachable {
            Some(reason) => writeln!(out, "  {name:<9} unreachable: {reason}")?,
            None => writeln!(
                out,
                "  {name:<9} {} discovered, {} stored, {} failed, {} tools{}",
                source.discovered,
                source.stored,
                source.failed,
                source.tools,
                if source.tools_failed > 0 {
                    format!(" ({} packages unreadable)", source.tools_failed)
                } else {
                    String::new()
                }
            )?,
        }
        for error in &source.errors {
            writeln!(out, "            {error}")?;
        }
    }
    let http = &summary.http;
    writeln!(
        out,
        "  http      {} requests, {} retried, {} not modified, {} rate-limit waits, {} failed",
        http.requests, http.retries, http.not_modified, http.rate_limited_waits, http.failures
    )?;
    if summary.status != "finished" {
        writeln!(out, "resume with: mcpwarden crawl --resume")?;
    }
    Ok(())
}
