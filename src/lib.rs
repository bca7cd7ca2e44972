//! mcpwarden: crawl MCP servers, classify the tools they expose, write default-deny
//! policies for them and enforce those policies in a gateway.
//!
//! The pipeline and the module map are in `ARCHITECTURE.md`. `main.rs` only calls
//! [`cli::main`]; everything else lives here so tests can drive it.

// Library code never unwraps input; tests and fixtures may (clippy.toml allows it in
// #[cfg(test)] code, and the test crates under tests/ are not subject to this lint).
#![warn(clippy::unwrap_used)]

pub mod catalog;
pub mod classify;
pub mod cli;
pub mod commands;
pub mod crawl;
pub mod extract;
pub mod gateway;
pub mod model;
pub mod policy;
pub mod progress;
pub mod report;
pub mod sandbox;
