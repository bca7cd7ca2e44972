//! Static extraction: placeholder until this language's extractor lands (issue 8).

use super::{FileOutcome, SourceFile};

/// Cheap literal check run before parsing.
pub fn might_define_tools(_text: &str) -> bool {
    false
}

pub fn extract(_file: &SourceFile<'_>) -> FileOutcome {
    FileOutcome::default()
}
