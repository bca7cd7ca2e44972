//! Local checkouts as a crawl source (`--dir`): which folders count, how they are named,
//! where their repository comes from, and merging with other sources' sightings.

use std::fs;
use std::future::pending;
use std::path::Path;
use std::sync::{Arc, Mutex};

use assert_cmd::Command;
use mcpwarden::catalog::Catalog;
use mcpwarden::crawl::engine::{CrawlConfig, Source, crawl};
use mcpwarden::crawl::local::{self, LocalError};
use mcpwarden::progress::NoProgress;
use predicates::prelude::*;

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn git_config(url: &str) -> String {
    format!(
        "[core]\n\trepositoryformatversion = 0\n[remote \"origin\"]\n\turl = {url}\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n[branch \"main\"]\n\tremote = origin\n"
    )
}

/// A folder of checkouts, one per manifest kind, plus folders that are not checkouts.
fn workspace(root: &Path) {
    write(
        &root.join("node-weather/package.json"),
        r#"{"name": "@acme/weather-mcp", "description": "Weather for agents", "version": "1.0.0"}"#,
    );
    write(
        &root.join("node-weather/.git/config"),
        &git_config("git@github.com:Acme/Weather-MCP.git"),
    );
    write(
        &root.join("py-notes/pyproject.toml"),
        "[project]\nname = \"notes-mcp\"\nversion = \"0.1\"\n",
    );
    write(
        &root.join("poetry-thing/pyproject.toml"),
        "[tool.poetry]\nname = \"poetry-mcp\"\n",
    );
    write(
        &root.join("go-files/go.mod"),
        "module github.com/acme/files-mcp\n\ngo 1.22\n",
    );
    write(
        &root.join("rust-time/Cargo.toml"),
        "[package]\nname = \"time-mcp\"\nversion = \"0.1.0\"\n",
    );
    write(
        &root.join("bundle/manifest.json"),
        r#"{"manifest_version": "0.2", "name": "bundle-mcp", "description": "An MCPB bundle"}"#,
    );
    // A bare clone of something with no manifest: named after its folder.
    write(
        &root.join("Plain-Repo/.git/config"),
        &git_config("https://github.com/acme/plain-repo.git"),
    );
    // A worktree: `.git` is a file pointing at the main clone's worktree folder.
    write(
        &root.join("main-clone/.git/config"),
        &git_config("https://github.com/acme/worktreed.git"),
    );
    write(
        &root.join("main-clone/.git/worktrees/wt/commondir"),
        "../..\n",
    );
    write(
        &root.join("main-clone/.git/worktrees/wt/HEAD"),
        "ref: refs/heads/wt\n",
    );
    let gitdir = root.join("main-clone/.git/worktrees/wt");
    write(
        &root.join("wt/.git"),
        &format!("gitdir: {}\n", gitdir.display()),
    );
    // Not checkouts: no marker, or hidden.
    write(&root.join("docs/README.md"), "# docs");
    write(&root.join(".cache/package.json"), r#"{"name": "hidden"}"#);
}

#[test]
fn a_folder_of_checkouts_yields_one_named_server_each() {
    let dir = tempfile::tempdir().unwrap();
    workspace(dir.path());
    let found = local::discover(dir.path()).unwrap();
    let names: Vec<(&str, Option<&str>)> = found
        .iter()
        .map(|c| (c.record.name.as_str(), c.record.repository.as_deref()))
        .collect();
    assert_eq!(
        names,
        [
            ("Plain-Repo", Some("https://github.com/acme/plain-repo")),
            ("bundle-mcp", None),
            ("github.com/acme/files-mcp", None),
            ("main-clone", Some("https://github.com/acme/worktreed")),
            (
                "@acme/weather-mcp",
                Some("https://github.com/acme/weather-mcp")
            ),
            ("poetry-mcp", None),
            ("notes-mcp", None),
            ("time-mcp", None),
            ("wt", Some("https://github.com/acme/worktreed")),
        ]
    );
    let weather = found
        .iter()
        .find(|c| c.record.name == "@acme/weather-mcp")
        .unwrap();
    assert_eq!(
        weather.record.description.as_deref(),
        Some("Weather for agents")
    );
    assert_eq!(weather.record.sources[0].source, "local");
    assert!(weather.path.is_absolute());
    assert!(weather.path.ends_with("node-weather"));
}

#[test]
fn one_checkout_is_itself_and_a_folder_without_any_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    workspace(dir.path());
    let one = local::discover(&dir.path().join("rust-time")).unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].record.name, "time-mcp");

    let error = local::discover(&dir.path().join("docs")).unwrap_err();
    assert!(matches!(error, LocalError::NoCheckouts { .. }));
    assert!(error.to_string().contains("is not a checkout"), "{error}");
    let error = local::discover(&dir.path().join("nowhere")).unwrap_err();
    assert!(error.to_string().contains("no such folder"), "{error}");
}

#[test]
fn a_manifest_that_does_not_parse_falls_back_to_the_folder_name() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("broken/package.json"), "{ not json");
    write(
        &dir.path().join("broken/.git/config"),
        "[remote \"origin\"]\n",
    );
    let found = local::discover(&dir.path().join("broken")).unwrap();
    assert_eq!(found[0].record.name, "broken");
    assert_eq!(found[0].record.repository, None);
}

#[tokio::test]
async fn a_checkout_merges_with_the_seed_entry_of_its_repository() {
    let dir = tempfile::tempdir().unwrap();
    workspace(dir.path());
    let seeds = dir.path().join("seeds.txt");
    fs::write(&seeds, "https://github.com/acme/weather-mcp\n").unwrap();
    let catalog = Arc::new(Mutex::new(Catalog::open_in_memory().unwrap()));
    let config = CrawlConfig {
        sources: vec![Source::Seeds, Source::Local],
        seed_files: vec![seeds],
        local_dirs: vec![dir.path().to_path_buf()],
        ..CrawlConfig::default()
    };
    let summary = crawl(catalog.clone(), config.clone(), &NoProgress, pending())
        .await
        .unwrap();
    assert!(!summary.has_problems(), "{summary:?}");
    assert_eq!(summary.sources["local"].discovered, 9);
    assert_eq!(summary.sources["local"].stored, 9);
    let catalog = catalog.lock().unwrap();
    // The two checkouts of one repository (main-clone and its worktree wt) are one server,
    // and the weather checkout merged with the seed entry.
    assert_eq!(catalog.stats().unwrap().servers, 8);
    let weather = catalog
        .find_servers("acme/weather-mcp")
        .unwrap()
        .into_iter()
        .chain(catalog.find_servers("@acme/weather-mcp").unwrap())
        .next()
        .unwrap();
    let mut sources: Vec<&str> = weather
        .record
        .sources
        .iter()
        .map(|s| s.source.as_str())
        .collect();
    sources.sort();
    sources.dedup();
    assert_eq!(sources.len(), 2, "{sources:?}");
    assert!(sources.contains(&"local"));
}

#[test]
fn the_cli_crawls_a_dir_alone_and_says_when_it_is_not_there() {
    let dir = tempfile::tempdir().unwrap();
    workspace(dir.path());
    let db = dir.path().join("catalog.db");
    Command::cargo_bin("mcpwarden")
        .unwrap()
        .args(["--db", db.to_str().unwrap(), "crawl", "--dir"])
        .arg(dir.path())
        .assert()
        .success()
        .stderr(predicates::str::contains(
            "local     9 discovered, 9 stored, 0 failed",
        ))
        .stderr(predicates::str::contains("registry").not());
    Command::cargo_bin("mcpwarden")
        .unwrap()
        .args(["--db", db.to_str().unwrap(), "crawl", "--dir"])
        .arg(dir.path().join("nowhere"))
        .assert()
        .code(1)
        .stderr(predicates::str::contains("local     unreachable:"))
        .stderr(predicates::str::contains("no such folder"));
}

/// A checkout that imports the MCP SDK but keeps its tools in a dependency is stored with
/// a "could not read" marker, which `catalog show` prints instead of an empty tool list.
#[test]
fn a_server_whose_tools_cannot_be_read_is_shown_as_unread_not_empty() {
    let dir = tempfile::tempdir().unwrap();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/servers/js-tools-in-dependency");
    let checkout = dir.path().join("checkouts/browser-driver");
    for file in ["package.json", "cli/index.js"] {
        write(
            &checkout.join(file),
            &fs::read_to_string(fixture.join(file)).unwrap(),
        );
    }
    let db = dir.path().join("catalog.db");
    Command::cargo_bin("mcpwarden")
        .unwrap()
        .args(["--db", db.to_str().unwrap(), "crawl", "--dir"])
        .arg(dir.path().join("checkouts"))
        .assert()
        .success();
    Command::cargo_bin("mcpwarden")
        .unwrap()
        .args([
            "--db",
            db.to_str().unwrap(),
            "catalog",
            "show",
            "browser-driver-mcp",
        ])
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "tools: could not be read (unknown, not none): imports @modelcontextprotocol/sdk",
        ))
        .stdout(predicates::str::contains("cli/index.js:5"));
    let output = Command::cargo_bin("mcpwarden")
        .unwrap()
        .args([
            "--db",
            db.to_str().unwrap(),
            "catalog",
            "show",
            "browser-driver-mcp",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("\"tools_unread\""), "{text}");
    assert!(text.contains("registered inside a dependency"), "{text}");
}
