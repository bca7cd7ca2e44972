//! `mcpwarden catalog ...` through the built binary: output, exit codes and both streams.

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn db(&self) -> std::path::PathBuf {
        self.dir.path().join("catalog.db")
    }

    /// The binary with `--db` pointed at this test's catalogue and no inherited one.
    fn cmd(&self) -> Command {
        let mut cmd = Command::cargo_bin("mcpwarden").expect("binary");
        cmd.env_remove("MCPWARDEN_DB").arg("--db").arg(self.db());
        cmd
    }

    fn with_example(self) -> Env {
        self.cmd()
            .args(["catalog", "import", "data/example-catalog.jsonl"])
            .assert()
            .success()
            .stderr(predicate::str::contains(
                "8 new, 0 updated, 0 unchanged, 0 bad lines",
            ));
        self
    }
}

/// Imports `exported` into an empty catalogue (stderr must say `summary`), exports it again
/// and requires the same bytes. Returns that catalogue and the file it imported.
fn assert_round_trip(exported: &str, summary: &str) -> (Env, std::path::PathBuf) {
    let other = Env::new();
    let file = other.dir.path().join("export.jsonl");
    std::fs::write(&file, exported).unwrap();
    other
        .cmd()
        .args(["catalog", "import"])
        .arg(&file)
        .assert()
        .success()
        .stderr(predicate::str::contains(summary));
    let again = other
        .cmd()
        .args(["catalog", "export"])
        .output()
        .unwrap()
        .stdout;
    assert_eq!(String::from_utf8(again).unwrap(), exported);
    (other, file)
}

fn json_of(output: &[u8]) -> Value {
    serde_json::from_slice(output).expect("stdout is JSON")
}

#[test]
fn import_twice_reports_nothing_changed() {
    let env = Env::new().with_example();
    env.cmd()
        .args(["catalog", "import", "data/example-catalog.jsonl"])
        .assert()
        .success()
        .stderr(predicate::str::contains("0 new, 0 updated, 8 unchanged"));
}

#[test]
fn show_prints_a_card_for_every_spelling_of_the_name() {
    let env = Env::new().with_example();
    for spelling in ["send_message", "send-message", "SEND.MESSAGE"] {
        env.cmd()
            .args(["catalog", "show", spelling])
            .assert()
            .success()
            .stdout(predicate::str::contains(
                "send_message\n  server      io.github.example-labs/tmux-agents",
            ))
            .stdout(predicate::str::contains(
                "send-message\n  server      io.github.example-org/team-chat",
            ))
            .stdout(predicate::str::contains(
                "repository  https://github.com/example-labs/tmux-agents",
            ))
            .stdout(predicate::str::contains(
                "package     pkg:npm/tmux-agents@0.4.1",
            ))
            .stdout(predicate::str::contains("Control characters such as C-c"))
            .stdout(predicate::str::is_match(r"target\s+string\s+required\s+tmux target").unwrap())
            .stdout(predicate::str::contains("not classified yet"));
    }
}

#[test]
fn show_json_has_the_card_fields() {
    let env = Env::new().with_example();
    let output = env
        .cmd()
        .args(["catalog", "show", "send_message", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let json = json_of(&output.stdout);
    assert_eq!(json["matched"], "tools");
    let card = &json["tools"][0];
    assert_eq!(card["tool"], "send_message");
    assert_eq!(card["server"]["name"], "io.github.example-labs/tmux-agents");
    assert_eq!(card["parameters"][0]["name"], "target");
    assert_eq!(card["parameters"][0]["required"], true);
    assert_eq!(card["classification"], Value::Null);
    assert!(
        card["definition_hash"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
}

#[test]
fn show_of_a_server_name_lists_its_tools() {
    let env = Env::new().with_example();
    env.cmd()
        .args(["catalog", "show", "tmux_agents"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "io.github.example-labs/tmux-agents\n",
        ))
        .stdout(predicate::str::contains("tools (6)"))
        .stdout(predicate::str::contains("parallel_implement"));
}

#[test]
fn show_with_no_match_exits_1_and_suggests_the_closest_names() {
    let env = Env::new().with_example();
    env.cmd()
        .args(["catalog", "show", "send_mesage"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains(
            "no tool or server named `send_mesage`",
        ))
        .stderr(predicate::str::contains(
            "closest names: send-message, send_message",
        ));
    let output = env
        .cmd()
        .args(["catalog", "show", "send_mesage", "--json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let json = json_of(&output.stdout);
    assert_eq!(json["matched"], Value::Null);
    assert_eq!(json["suggestions"][0], "send-message");
}

#[test]
fn search_lists_hits_and_exits_1_when_there_are_none() {
    let env = Env::new().with_example();
    env.cmd()
        .args(["catalog", "search", "refund"])
        .assert()
        .success()
        .stdout(predicate::str::contains("create_refund"));
    let output = env
        .cmd()
        .args(["catalog", "search", "screenshot", "--json", "--limit", "1"])
        .output()
        .unwrap();
    let json = json_of(&output.stdout);
    assert_eq!(json.as_array().unwrap().len(), 1);
    assert_eq!(json[0]["tool"], "browser_screenshot");
    env.cmd()
        .args(["catalog", "search", "nothing-like-this-exists"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no tools match"));
    env.cmd()
        .args(["catalog", "search", "x", "--risk", "extreme"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "`extreme` is not one of Low, Medium, High, Critical",
        ));
}

#[test]
fn stats_say_where_the_catalogue_is_and_why() {
    let env = Env::new().with_example();
    let output = env
        .cmd()
        .args(["catalog", "stats", "--json"])
        .output()
        .unwrap();
    let json = json_of(&output.stdout);
    assert_eq!(json["database"], env.db().display().to_string());
    assert_eq!(json["database_chosen_by"], "flag");
    assert_eq!(json["servers"], 8);
    assert_eq!(json["tools"], 32);

    // Without --db, $MCPWARDEN_DB decides.
    let mut cmd = Command::cargo_bin("mcpwarden").unwrap();
    cmd.env("MCPWARDEN_DB", env.db())
        .args(["catalog", "stats"])
        .assert()
        .success()
        .stdout(predicate::str::contains("from $MCPWARDEN_DB"))
        .stdout(predicate::str::contains("servers     8"));

    // Without either, the platform data directory (here under a fake HOME): named in
    // the refusal when no catalogue is there yet, not created by a read.
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::cargo_bin("mcpwarden").unwrap();
    let output = cmd
        .env_remove("MCPWARDEN_DB")
        .env_remove("XDG_DATA_HOME")
        .env("HOME", home.path())
        .args(["catalog", "stats", "--json"])
        .output()
        .unwrap();
    let expected = home.path().join(".local/share/mcpwarden/catalog.db");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "no catalogue at {} (the default location)",
            expected.display()
        )),
        "{stderr}"
    );
    assert!(!expected.exists());
}

#[test]
fn a_non_sqlite_file_at_db_is_a_clear_error_and_is_left_untouched() {
    let env = Env::new();
    std::fs::write(env.db(), "my precious notes\n").unwrap();
    env.cmd()
        .args(["catalog", "stats"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not a SQLite database"))
        .stderr(predicate::str::contains("catalog.db"));
    assert_eq!(
        std::fs::read_to_string(env.db()).unwrap(),
        "my precious notes\n"
    );
}

#[test]
fn import_reports_bad_lines_with_file_and_line_and_exits_1() {
    let env = Env::new();
    let file = env.dir.path().join("mixed.jsonl");
    std::fs::write(
        &file,
        "{\"name\": \"a/b\"}\nnot json\n{\"name\": \"c/d\"}\n",
    )
    .unwrap();
    env.cmd()
        .args(["catalog", "import"])
        .arg(&file)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("mixed.jsonl:2: expected ident"))
        .stderr(predicate::str::contains(
            "2 new, 0 updated, 0 unchanged, 1 bad lines",
        ));
    env.cmd()
        .args(["catalog", "import", "does/not/exist.jsonl"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("does/not/exist.jsonl"));
}

#[test]
fn export_writes_json_lines_that_import_back() {
    let env = Env::new().with_example();
    let out = env.dir.path().join("export.jsonl");
    env.cmd()
        .args(["catalog", "export", "--out"])
        .arg(&out)
        .assert()
        .success()
        .stderr(predicate::str::contains("exported 8 servers"));
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), 8);
    assert_round_trip(&text, "8 new");
}

#[test]
fn help_teaches_with_examples() {
    Command::cargo_bin("mcpwarden")
        .unwrap()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "mcpwarden catalog show send_message",
        ));
    Command::cargo_bin("mcpwarden")
        .unwrap()
        .args(["catalog", "show", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("ignores case"));
}

#[test]
fn show_says_when_a_repository_is_archived() {
    let env = Env::new();
    let line = r#"{"name":"acme/old-weather","repository":"https://github.com/acme/old-weather","archived":true}"#;
    let lines = env.dir.path().join("archived.jsonl");
    std::fs::write(&lines, format!("{line}\n")).unwrap();
    env.cmd()
        .args(["catalog", "import"])
        .arg(&lines)
        .assert()
        .success();
    env.cmd()
        .args(["catalog", "show", "acme/old-weather"])
        .assert()
        .success()
        .stdout(predicate::str::contains("archived    yes"));
    let output = env
        .cmd()
        .args(["catalog", "show", "acme/old-weather", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let json = json_of(&output);
    assert_eq!(json["servers"][0]["archived"], Value::Bool(true), "{json}");
    let exported = env
        .cmd()
        .args(["catalog", "export"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(
        String::from_utf8_lossy(&exported).contains(r#""archived":true"#),
        "the exchange format carries it"
    );
}

#[test]
fn search_filters_on_archived_repositories() {
    let env = Env::new();
    let lines = env.dir.path().join("two.jsonl");
    std::fs::write(
        &lines,
        concat!(
            r#"{"name":"acme/old-shell","archived":true,"tools":[{"name":"run_command","description":"Runs a shell command."}]}"#,
            "\n",
            r#"{"name":"acme/new-shell","archived":false,"tools":[{"name":"run_script","description":"Runs a shell script."}]}"#,
            "\n",
            r#"{"name":"acme/unknown-shell","tools":[{"name":"run_job","description":"Runs a shell job."}]}"#,
            "\n",
        ),
    )
    .unwrap();
    env.cmd()
        .args(["catalog", "import"])
        .arg(&lines)
        .assert()
        .success();
    let tools_of = |flags: &[&str]| -> Vec<(String, Value)> {
        let output = env
            .cmd()
            .args(["catalog", "search", "shell", "--json"])
            .args(flags)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let mut hits: Vec<(String, Value)> = json_of(&output)
            .as_array()
            .unwrap()
            .iter()
            .map(|hit| {
                (
                    hit["tool"].as_str().unwrap().to_owned(),
                    hit["archived"].clone(),
                )
            })
            .collect();
        hits.sort_by(|a, b| a.0.cmp(&b.0));
        hits
    };
    assert_eq!(
        tools_of(&[]),
        [
            ("run_command".to_owned(), Value::Bool(true)),
            ("run_job".to_owned(), Value::Null),
            ("run_script".to_owned(), Value::Bool(false)),
        ]
    );
    assert_eq!(
        tools_of(&["--archived"]),
        [("run_command".to_owned(), Value::Bool(true))]
    );
    assert_eq!(
        tools_of(&["--exclude-archived"]),
        [
            ("run_job".to_owned(), Value::Null),
            ("run_script".to_owned(), Value::Bool(false)),
        ],
        "unknown counts as not archived"
    );
    env.cmd()
        .args(["catalog", "search", "shell", "--archived"])
        .assert()
        .success()
        .stdout(predicate::str::contains("acme/old-shell (archived)"));
    env.cmd()
        .args(["catalog", "search", "--archived", "--exclude-archived"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("cannot be used with"));
}

#[test]
fn export_and_import_carry_the_could_not_read_marker() {
    let env = Env::new();
    let input = env.dir.path().join("unread.jsonl");
    std::fs::write(
        &input,
        concat!(
            r#"{"name": "dynamic-only", "tools_unread": "imports @modelcontextprotocol/sdk but no tool registration could be read (dist/index.js:3)"}"#,
            "\n",
            r#"{"name": "kept-tools", "tools": [{"name": "search"}], "tools_unread": "registers its tools dynamically (src/server.ts:9)"}"#,
            "\n",
            r#"{"name": "plain", "tools": [{"name": "fetch"}]}"#,
            "\n",
        ),
    )
    .unwrap();
    env.cmd()
        .args(["catalog", "import"])
        .arg(&input)
        .assert()
        .success()
        .stderr(predicate::str::contains("3 new"));
    let exported = String::from_utf8(
        env.cmd()
            .args(["catalog", "export"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let lines: Vec<Value> = exported
        .lines()
        .map(|line| json_of(line.as_bytes()))
        .collect();
    assert_eq!(lines.len(), 3);
    let by_name = |name: &str| {
        lines
            .iter()
            .find(|line| line["name"] == name)
            .unwrap_or_else(|| panic!("{name} exported"))
    };
    let dynamic = by_name("dynamic-only");
    assert_eq!(
        dynamic["tools_unread"],
        "imports @modelcontextprotocol/sdk but no tool registration could be read (dist/index.js:3)"
    );
    // `tools: []` would mean "exactly no tools" and clear the marker on import.
    assert!(dynamic.get("tools").is_none(), "{dynamic}");
    let kept = by_name("kept-tools");
    assert_eq!(
        kept["tools_unread"],
        "registers its tools dynamically (src/server.ts:9)"
    );
    assert_eq!(kept["tools"][0]["name"], "search");
    let plain = by_name("plain");
    assert!(plain.get("tools_unread").is_none(), "{plain}");

    // Round trip: import the export into an empty catalogue, export again, same bytes.
    let (other, file) = assert_round_trip(&exported, "3 new");

    // Importing the same file again changes nothing; a tool list without the marker
    // clears it.
    other
        .cmd()
        .args(["catalog", "import"])
        .arg(&file)
        .assert()
        .success()
        .stderr(predicate::str::contains("0 new, 0 updated, 3 unchanged"));
    let read_now = other.dir.path().join("read-now.jsonl");
    std::fs::write(
        &read_now,
        "{\"name\": \"dynamic-only\", \"tools\": [{\"name\": \"echo\"}]}\n",
    )
    .unwrap();
    other
        .cmd()
        .args(["catalog", "import"])
        .arg(&read_now)
        .assert()
        .success()
        .stderr(predicate::str::contains("1 updated"));
    let last = String::from_utf8(
        other
            .cmd()
            .args(["catalog", "export"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let dynamic = last
        .lines()
        .map(|line| json_of(line.as_bytes()))
        .find(|line| line["name"] == "dynamic-only")
        .unwrap();
    assert!(dynamic.get("tools_unread").is_none(), "{dynamic}");
    assert_eq!(dynamic["tools"][0]["name"], "echo");
}

#[test]
fn an_empty_could_not_read_marker_is_a_bad_line() {
    let env = Env::new();
    let input = env.dir.path().join("bad.jsonl");
    std::fs::write(&input, "{\"name\": \"x\", \"tools_unread\": \"  \"}\n").unwrap();
    env.cmd()
        .args(["catalog", "import"])
        .arg(&input)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("tools_unread"));
}

/// A mistyped --db used to create an empty catalogue and report on it with exit 0.
#[test]
fn reading_a_catalogue_that_does_not_exist_is_refused_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("catalgo.db");
    for args in [
        vec!["catalog", "stats"],
        vec!["catalog", "show", "send_message"],
        vec!["catalog", "search", "delete"],
        vec!["classify"],
    ] {
        let output = assert_cmd::Command::cargo_bin("mcpwarden")
            .unwrap()
            .arg("--db")
            .arg(&db)
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("no catalogue at") && stderr.contains("catalgo.db"),
            "{args:?}: {stderr}"
        );
        assert!(
            stderr.contains("crawl") && stderr.contains("catalog import"),
            "{stderr}"
        );
        assert!(!db.exists(), "{args:?} created the file");
    }
}
