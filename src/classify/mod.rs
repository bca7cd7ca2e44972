//! The taxonomy's rule engine: category, risk, signals and rationale for every tool.
//! Not built yet: see issue "The classifier".
