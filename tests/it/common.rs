//! Shared by the report tests: the fixture catalogue and a site generated from it with a
//! fixed recommended policy standing in for the policy generator.

use std::path::{Path, PathBuf};

use mcpwarden::catalog::{self, Catalog, ServerCard};
use mcpwarden::progress::NoProgress;
use mcpwarden::report::{self, ReportConfig, ReportSummary};
use serde_json::{Value, json};

pub const FIXTURE: &str = "tests/data/report-fixture.jsonl";

pub fn fixture_catalog() -> Catalog {
    let mut catalog = Catalog::open_in_memory().expect("in-memory catalogue");
    let file = std::fs::File::open(FIXTURE).expect("fixture");
    let imported = catalog::import_jsonl(&mut catalog, std::io::BufReader::new(file), &NoProgress)
        .expect("import");
    assert!(imported.errors.is_empty(), "{:?}", imported.errors);
    catalog
}

/// What the policy generator would say, for two servers; `None` for the rest.
pub fn fixed_policy(server: &ServerCard) -> Option<Value> {
    match server.record.name.as_str() {
        "io.github.example-labs/tmux-agents" => Some(json!({
            "version": "1",
            "default": "deny",
            "tools": {
                "get_agent_status": {},
                "send_message": {
                    "limits": [{"counter": "send_message_rate", "window": "minute", "max": 10, "scope": "grant"}]
                }
            }
        })),
        "io.github.example-ops/git-hosting" => Some(json!({
            "version": "1",
            "default": "deny",
            "hide": ["delete_repository"],
            "tools": {"search_repositories": {}}
        })),
        _ => None,
    }
}

pub struct Site {
    pub dir: tempfile::TempDir,
    pub summary: ReportSummary,
}

impl Site {
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("site")
    }

    pub fn summary_md(&self) -> PathBuf {
        self.dir.path().join("summary.md")
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.root().join(relative))
            .unwrap_or_else(|error| panic!("{relative}: {error}"))
    }
}

pub fn generate_fixture_site() -> Site {
    let dir = tempfile::tempdir().expect("temp dir");
    let summary = generate_into(&fixture_catalog(), dir.path());
    Site { dir, summary }
}

pub fn generate_into(catalog: &Catalog, dir: &Path) -> ReportSummary {
    let config = ReportConfig {
        out_dir: dir.join("site"),
        summary_path: Some(dir.join("summary.md")),
    };
    report::generate(catalog, &config, &fixed_policy, &NoProgress).expect("report")
}
