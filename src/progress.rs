//! How library code reports progress on long work without knowing how it is shown. Only the
//! CLI draws bars (`commands::reporter`); tests and benchmarks pass [`NoProgress`].

/// Receives progress from long-running library work. Every method has a do-nothing default.
pub trait Progress: Sync {
    /// A new phase of work begins; `total` is in the same unit later passed to `advance`.
    fn start(&self, _label: &str, _total: Option<u64>) {}
    /// `amount` more units are done.
    fn advance(&self, _amount: u64) {}
    /// A line worth telling the person (a skipped item, a retry).
    fn message(&self, _text: &str) {}
    /// The phase is over.
    fn finish(&self) {}
    /// Work from one named source begins (a crawl shows one bar per source).
    fn start_source(&self, _source: &str, _total: u64) {}
    /// One item of `source` is done; `failed` when it did not succeed.
    fn advance_source(&self, _source: &str, _failed: bool) {}
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {}
