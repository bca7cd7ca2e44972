//! The user's reference tools (issue 21): two real servers whose every tool is stored as
//! its repository defines it in `tests/data/seeds/servers.jsonl` (see the README there).
//! The seed tools are Execute / High with a rationale that says why, and `policy generate`
//! gives them exactly the catalogue pages' rule: 10 calls per minute per grant, everything
//! else on the server denied by default.

use assert_cmd::Command;
use mcpwarden::catalog::{Catalog, import_jsonl};
use mcpwarden::classify::{RuleSet, ServerContext};
use mcpwarden::model::{Category, Classification, Risk};
use mcpwarden::progress::NoProgress;
use serde_json::{Value, json};

const SEEDS: &str = "tests/data/seeds/servers.jsonl";
const TMUX_SERVER: &str = "nishimoto265/Agent_Collaboration_MCP";
const CLAUDE_SERVER: &str = "mlobo2012/Claude_Desktop_API_USE_VIA_MCP";

/// Every tool of both servers with the category and risk the taxonomy gives it
/// (ARCHITECTURE.md); the two seed tools are the pages' verdicts.
const EXPECTED: &[(&str, &str, Category, Risk)] = &[
    (TMUX_SERVER, "send_message", Category::Execute, Risk::High),
    (TMUX_SERVER, "start_agent", Category::Execute, Risk::High),
    (
        TMUX_SERVER,
        "parallel_implement",
        Category::Execute,
        Risk::High,
    ),
    (TMUX_SERVER, "get_agent_status", Category::Read, Risk::Low),
    (TMUX_SERVER, "capture_screen", Category::Read, Risk::Low),
    (
        TMUX_SERVER,
        "get_parallel_status",
        Category::Read,
        Risk::Low,
    ),
    (CLAUDE_SERVER, "send-message", Category::Execute, Risk::High),
    (CLAUDE_SERVER, "query_claude", Category::Execute, Risk::High),
    (
        CLAUDE_SERVER,
        "clear_conversation",
        Category::Destructive,
        Risk::Critical,
    ),
    (
        CLAUDE_SERVER,
        "get_conversation_history",
        Category::Read,
        Risk::Low,
    ),
];

fn seed_catalog() -> Catalog {
    let mut catalog = Catalog::open_in_memory().expect("in-memory catalogue");
    let file = std::fs::File::open(SEEDS).expect("the seed file exists");
    let report = import_jsonl(&mut catalog, std::io::BufReader::new(file), &NoProgress)
        .expect("the seeds import");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    catalog
}

/// Every seed tool's verdict, by (server, tool).
fn verdicts() -> Vec<(String, String, Classification)> {
    let rules = RuleSet::embedded().expect("the embedded rules are valid");
    let catalog = seed_catalog();
    let mut out = Vec::new();
    for server in [TMUX_SERVER, CLAUDE_SERVER] {
        let card = &catalog.find_servers(server).expect("query")[0];
        let context = ServerContext {
            name: &card.record.name,
            description: card.record.description.as_deref().unwrap_or(""),
        };
        for tool in &card.tools {
            out.push((
                server.to_owned(),
                tool.tool.name.clone(),
                rules.classify(&tool.tool, &context),
            ));
        }
    }
    out
}

#[test]
fn the_seed_data_holds_every_tool_of_both_servers() {
    let catalog = seed_catalog();
    for (server, count) in [(TMUX_SERVER, 6), (CLAUDE_SERVER, 4)] {
        let cards = catalog.find_servers(server).expect("query");
        assert_eq!(cards.len(), 1, "{server}");
        assert_eq!(cards[0].tools.len(), count, "{server}");
    }
}

#[test]
fn every_seed_server_tool_gets_its_category_and_risk() {
    let verdicts = verdicts();
    let mut wrong = Vec::new();
    for (server, name, category, risk) in EXPECTED {
        let (_, _, verdict) = verdicts
            .iter()
            .find(|(s, n, _)| s == server && n == name)
            .unwrap_or_else(|| panic!("{server} {name} is in the seed data"));
        if verdict.category != *category || verdict.risk != *risk {
            wrong.push(format!(
                "{name}: expected {category}/{risk}, got {}/{}: {}",
                verdict.category, verdict.risk, verdict.rationale
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_tmux_rationale_names_terminal_input_and_control_characters() {
    let verdicts = verdicts();
    let (_, _, verdict) = verdicts
        .iter()
        .find(|(s, n, _)| s == TMUX_SERVER && n == "send_message")
        .expect("send_message");
    let rationale = verdict.rationale.to_lowercase();
    for words in [
        "terminal",
        "input",
        "control characters",
        "c-c",
        "tmux target",
    ] {
        assert!(rationale.contains(words), "{words}: {rationale}");
    }
    let signals: Vec<&str> = verdict.signals.iter().map(|s| &*s.name).collect();
    assert!(signals.contains(&"terminal-input"), "{signals:?}");
    assert!(signals.contains(&"control-characters"), "{signals:?}");
}

#[test]
fn the_claude_rationale_names_the_prompt_to_an_ai_model_and_the_advertised_bypass() {
    let verdicts = verdicts();
    let (_, _, verdict) = verdicts
        .iter()
        .find(|(s, n, _)| s == CLAUDE_SERVER && n == "send-message")
        .expect("send-message");
    let rationale = verdict.rationale.to_lowercase();
    for words in [
        "prompt",
        "ai model",
        "send a message to claude",
        "bypass",
        "professional plan limitations",
    ] {
        assert!(rationale.contains(words), "{words}: {rationale}");
    }
    let signals: Vec<&str> = verdict.signals.iter().map(|s| &*s.name).collect();
    assert!(signals.contains(&"sends-to-ai-model"), "{signals:?}");
    assert!(signals.contains(&"advertises-bypass"), "{signals:?}");
}

fn mcpwarden(db: &std::path::Path) -> Command {
    let mut command = Command::cargo_bin("mcpwarden").expect("the binary is built");
    command.arg("--db").arg(db).env_remove("MCPWARDEN_DB");
    command
}

/// Through the binary: import, classify, `policy generate`; the seed tool's rule is the
/// page's, apart from the definition pin this project adds to every rule.
#[test]
fn policy_generate_gives_the_pages_rule_for_both_seed_tools() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let db = dir.path().join("catalog.db");
    mcpwarden(&db)
        .args(["catalog", "import", SEEDS])
        .assert()
        .success();
    mcpwarden(&db).arg("classify").assert().success();
    for (server, tool) in [
        (TMUX_SERVER, "send_message"),
        (CLAUDE_SERVER, "send-message"),
    ] {
        let output = mcpwarden(&db)
            .args(["policy", "generate", server])
            .output()
            .expect("policy generate runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let generated: Value = serde_json::from_slice(&output.stdout).expect("policy JSON");
        assert_eq!(generated["version"], "1");
        assert_eq!(generated["default"], "deny");
        let mut rule = generated["tools"][tool].clone();
        let pin = rule
            .as_object_mut()
            .and_then(|rule| rule.remove("pin"))
            .unwrap_or_else(|| panic!("{tool} is pinned: {generated}"));
        assert!(pin.as_str().is_some_and(|pin| pin.starts_with("sha256:")));
        let parts = rule
            .as_object_mut()
            .and_then(|rule| rule.remove("pin_parts"));
        assert!(parts.is_some_and(|parts| parts["description"].is_string()));
        let page = json!({
            "limits": [{"counter": format!("{tool}_rate"), "window": "minute", "max": 10, "scope": "grant"}]
        });
        assert_eq!(rule, page, "{server}: {generated}");
    }
}
