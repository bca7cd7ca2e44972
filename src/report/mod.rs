//! The static HTML catalogue site and Markdown summaries. Not built yet: see issue "Reports".
