//! The CLI's [`Progress`]: an indicatif bar on stderr when it is a terminal, plain log
//! lines for messages otherwise.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::progress::Progress;

pub struct BarReporter {
    bar: ProgressBar,
    /// Counting items (tools) rather than bytes read.
    items: bool,
}

impl BarReporter {
    pub fn new() -> BarReporter {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        BarReporter {
            bar: ProgressBar::with_draw_target(None, target),
            items: false,
        }
    }

    /// A bar that counts items (e.g. tools classified) instead of bytes.
    pub fn counting_items() -> BarReporter {
        BarReporter {
            items: true,
            ..BarReporter::new()
        }
    }
}

impl Default for BarReporter {
    fn default() -> Self {
        BarReporter::new()
    }
}

impl Progress for BarReporter {
    fn start(&self, label: &str, total: Option<u64>) {
        let template = if self.items {
            "{msg:>12} [{bar:30}] {pos}/{len} ({per_sec}, {eta})"
        } else if total.is_some() {
            "{msg:>12} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})"
        } else {
            "{msg:>12} {spinner} {bytes} ({bytes_per_sec})"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            self.bar.set_style(style.progress_chars("=> "));
        }
        self.bar.set_message(label.to_owned());
        self.bar.set_length(total.unwrap_or(0));
        self.bar.set_position(0);
    }

    fn advance(&self, amount: u64) {
        self.bar.inc(amount);
    }

    fn message(&self, text: &str) {
        if self.bar.is_hidden() {
            eprintln!("{text}");
        } else {
            self.bar.println(text);
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// The crawl's [`Progress`]: one bar per source (done/total, failures, rate, ETA) on a
/// terminal; otherwise a log line per source at every tenth of its work and at its end.
pub struct CrawlReporter {
    multi: MultiProgress,
    terminal: bool,
    sources: Mutex<BTreeMap<String, SourceBar>>,
}

struct SourceBar {
    bar: ProgressBar,
    total: u64,
    done: u64,
    failed: u64,
    started: std::time::Instant,
}

impl CrawlReporter {
    pub fn new() -> CrawlReporter {
        let terminal = std::io::stderr().is_terminal();
        let target = if terminal {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        CrawlReporter {
            multi: MultiProgress::with_draw_target(target),
            terminal,
            sources: Mutex::new(BTreeMap::new()),
        }
    }

    fn sources(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, SourceBar>> {
        self.sources
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Default for CrawlReporter {
    fn default() -> Self {
        CrawlReporter::new()
    }
}

impl Progress for CrawlReporter {
    fn message(&self, text: &str) {
        if self.terminal {
            let _ = self.multi.println(text);
        } else {
            eprintln!("{text}");
        }
    }

    fn start_source(&self, source: &str, total: u64) {
        let bar = self.multi.add(ProgressBar::new(total));
        if let Ok(style) = ProgressStyle::with_template(
            "{prefix:>9} [{bar:30}] {pos}/{len} {msg} ({per_sec}, {eta} left)",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(source.to_owned());
        bar.set_message("0 failed");
        self.sources().insert(
            source.to_owned(),
            SourceBar {
                bar,
                total,
                done: 0,
                failed: 0,
                started: std::time::Instant::now(),
            },
        );
    }

    fn advance_source(&self, source: &str, failed: bool) {
        let mut sources = self.sources();
        let Some(entry) = sources.get_mut(source) else {
            return;
        };
        entry.done += 1;
        entry.failed += u64::from(failed);
        entry.bar.inc(1);
        if failed {
            entry.bar.set_message(format!("{} failed", entry.failed));
        }
        let tenth = (entry.total / 10).max(1);
        if !self.terminal && (entry.done % tenth == 0 || entry.done == entry.total) {
            let seconds = entry.started.elapsed().as_secs_f64().max(0.001);
            let rate = entry.done as f64 / seconds;
            let left = entry.total.saturating_sub(entry.done) as f64 / rate.max(0.001);
            eprintln!(
                "{source}: {}/{} done, {} failed, {rate:.0}/s, about {left:.0} s left",
                entry.done, entry.total, entry.failed
            );
        }
    }

    fn finish(&self) {
        for entry in self.sources().values() {
            entry.bar.finish_and_clear();
        }
    }
}
