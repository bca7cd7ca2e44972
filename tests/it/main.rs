//! Every integration test, as modules of one test binary: one link of the crate and its
//! dependencies instead of one per file (issue 18: 34 binaries took most of a test build).
//! Run one module with `scripts/test.sh <module>::` (e.g. `scripts/test.sh sandbox::`).
//!
//! `common` and `gateway_common` are the shared support modules.

mod catalog;
mod classify_accuracy;
mod classify_behaviour;
mod classify_chunks;
mod classify_cli;
mod classify_rules;
mod classify_seeds;
mod classify_snapshot;
mod classify_truth;
mod cli_catalog;
#[allow(dead_code)] // Not every helper is used by every test module.
mod common;
mod crawl;
mod extract_corpus;
mod extract_robustness;
mod extract_schemas;
mod gateway_bypass;
#[allow(dead_code)] // Not every helper is used by every test module.
mod gateway_common;
mod gateway_config;
mod gateway_http;
mod gateway_npm;
mod gateway_rmcp;
mod gateway_stateless;
mod gateway_stdio;
mod github;
mod http;
mod inspect;
mod journey;
mod local;
mod packages;
mod policy_check;
mod policy_diff;
mod policy_engine;
mod policy_generate;
mod registry;
mod report;
mod report_browser;
mod sandbox;
mod unpack;
mod wrap;
