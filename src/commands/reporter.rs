//! The CLI's [`Progress`]: an indicatif bar on stderr when it is a terminal, plain log
//! lines for messages otherwise.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::progress::Progress;

pub struct BarReporter {
    bar: ProgressBar,
    /// Counts things (servers, pages) rather than bytes.
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

    /// A bar whose units are things (`120/10000 servers`), not bytes.
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
