//! The catalogue through the library: migrations, refusals, idempotent merge-on-store,
//! name matching, search and the JSON Lines round trip.

use std::io::Cursor;

use mcpwarden::catalog::{
    self, Catalog, SCHEMA_VERSION, SearchQuery, ServerEntry, StoreOutcome, ToolEntry,
};
use mcpwarden::model::{Category, Classification, Risk, ServerRecord, Signal, SourceRef, ToolDef};
use mcpwarden::progress::NoProgress;
use serde_json::json;

const EXAMPLE: &str = include_str!("../../data/example-catalog.jsonl");

fn example_catalog() -> Catalog {
    let mut catalog = Catalog::open_in_memory().expect("in-memory catalogue");
    let report =
        catalog::import_jsonl(&mut catalog, Cursor::new(EXAMPLE), &NoProgress).expect("import");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    catalog
}

fn server(name: &str) -> ServerRecord {
    ServerRecord {
        name: name.to_owned(),
        ..ServerRecord::default()
    }
}

fn verdict(category: Category, risk: Risk) -> Classification {
    Classification {
        category,
        risk,
        signals: vec![Signal {
            name: "test".into(),
            evidence: None,
        }],
        rationale: "set by the test".into(),
        rule_ids: vec!["test-rule".into()],
        findings: vec![],
        confidence: 1.0,
        version: "v-test".into(),
    }
}

#[test]
fn migrating_an_empty_file_and_reopening_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/folder/catalog.db");
    {
        let catalog = Catalog::open(&path).expect("create");
        assert_eq!(catalog.schema_version().unwrap(), SCHEMA_VERSION);
    }
    // An existing empty file is a new database too.
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    Catalog::open(&empty).expect("an empty file is migrated");

    let mut catalog = Catalog::open(&path).expect("reopen");
    assert_eq!(catalog.schema_version().unwrap(), SCHEMA_VERSION);
    catalog
        .store_server(&ServerEntry {
            live: None,
            tools_unread: None,
            server: server("a/b"),
            tools: Some(vec![]),
        })
        .unwrap();
    drop(catalog);
    let catalog = Catalog::open(&path).expect("reopen after a write");
    assert_eq!(catalog.stats().unwrap().servers, 1);
}

#[test]
fn a_file_that_is_not_sqlite_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        (
            "notes.txt",
            b"these are my notes, not a database\n".to_vec(),
        ),
        ("short", b"SQLite".to_vec()),
        (
            "garbage",
            (0..4096u32).map(|i| (i * 7 % 251) as u8).collect(),
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let error = Catalog::open(&path).err().expect("must be refused");
        let message = error.to_string();
        assert!(message.contains("not a SQLite database"), "{message}");
        assert!(
            message.contains(name),
            "the message names the file: {message}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{name} was modified");
        assert!(!dir.path().join(format!("{name}-wal")).exists());
    }
}

#[test]
fn a_corrupt_database_behind_a_valid_header_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corrupt.db");
    let mut bytes = b"SQLite format 3\0".to_vec();
    bytes.extend(std::iter::repeat_n(0xAB, 4096));
    std::fs::write(&path, &bytes).unwrap();
    let error = Catalog::open(&path).err().expect("must be refused");
    assert!(error.to_string().contains("corrupt.db"), "{error}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn a_catalogue_from_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.db");
    drop(Catalog::open(&path).unwrap());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 7)
            .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let error = Catalog::open(&path).err().expect("must be refused");
    let message = error.to_string();
    assert!(message.contains("newer mcpwarden"), "{message}");
    assert!(
        message.contains(&format!("schema version {}", SCHEMA_VERSION + 7)),
        "{message}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn importing_the_same_file_twice_changes_nothing() {
    let mut catalog = Catalog::open_in_memory().unwrap();
    let first = catalog::import_jsonl(&mut catalog, Cursor::new(EXAMPLE), &NoProgress).unwrap();
    assert_eq!(first.stored.inserted, 8);
    let mut export_before = Vec::new();
    catalog::export_jsonl(&catalog, &mut export_before).unwrap();

    let second = catalog::import_jsonl(&mut catalog, Cursor::new(EXAMPLE), &NoProgress).unwrap();
    assert_eq!(second.stored.inserted, 0);
    assert_eq!(second.stored.updated, 0);
    assert_eq!(second.stored.unchanged, 8);
    let mut export_after = Vec::new();
    catalog::export_jsonl(&catalog, &mut export_after).unwrap();
    assert_eq!(export_before, export_after);
    assert_eq!(catalog.stats().unwrap().tools, 32);
}

#[test]
fn export_then_import_into_an_empty_catalogue_gives_the_same_export() {
    let catalog = example_catalog();
    let mut first = Vec::new();
    catalog::export_jsonl(&catalog, &mut first).unwrap();
    let mut copy = Catalog::open_in_memory().unwrap();
    let report = catalog::import_jsonl(&mut copy, Cursor::new(&first), &NoProgress).unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let mut second = Vec::new();
    catalog::export_jsonl(&copy, &mut second).unwrap();
    assert_eq!(
        String::from_utf8(first).unwrap(),
        String::from_utf8(second).unwrap()
    );
}

#[test]
fn a_changed_tool_definition_updates_the_row_and_its_hash_and_drops_a_stale_verdict() {
    let mut catalog = Catalog::open_in_memory().unwrap();
    let tool = ToolDef::new("delete_branch", "Delete a branch.");
    let entry = ServerEntry {
        live: None,
        tools_unread: None,
        server: server("acme/git"),
        tools: Some(vec![ToolEntry {
            tool: tool.clone(),
            classification: Some(verdict(Category::Destructive, Risk::Critical)),
        }]),
    };
    assert_eq!(
        catalog.store_server(&entry).unwrap(),
        StoreOutcome::Inserted
    );
    assert_eq!(
        catalog.store_server(&entry).unwrap(),
        StoreOutcome::Unchanged
    );
    let before = catalog.find_tools("delete_branch").unwrap().remove(0);
    assert!(before.classification.is_some());

    let mut changed = tool.clone();
    changed.description = "Delete a branch, and also force-push over main.".into();
    let outcome = catalog
        .store_server(&ServerEntry {
            live: None,
            tools_unread: None,
            server: server("acme/git"),
            tools: Some(vec![ToolEntry {
                tool: changed.clone(),
                classification: None,
            }]),
        })
        .unwrap();
    assert_eq!(outcome, StoreOutcome::Updated);
    let after = catalog.find_tools("delete_branch").unwrap().remove(0);
    assert_eq!(
        after.tool_id, before.tool_id,
        "the row is updated, not replaced"
    );
    assert_eq!(after.tool.description, changed.description);
    assert_ne!(after.definition_hash, before.definition_hash);
    assert_eq!(after.definition_hash, changed.definition_hash());
    assert!(
        after.classification.is_none(),
        "a verdict on the old text is dropped"
    );
}

#[test]
fn sources_merge_fields_fill_in_and_tool_sets_are_replaced_only_when_given() {
    let mut catalog = Catalog::open_in_memory().unwrap();
    let from_registry = ServerEntry {
        live: None,
        tools_unread: None,
        server: ServerRecord {
            name: "acme/notes".into(),
            description: Some("Take notes".into()),
            packages: vec!["pkg:npm/acme-notes@1.0.0".into()],
            sources: vec![SourceRef {
                source: "registry".into(),
                id: "r-1".into(),
                seen_at: None,
            }],
            ..ServerRecord::default()
        },
        tools: Some(vec![
            ToolEntry {
                tool: ToolDef::new("add_note", "Add a note."),
                classification: None,
            },
            ToolEntry {
                tool: ToolDef::new("old_tool", "Gone soon."),
                classification: None,
            },
        ]),
    };
    catalog.store_server(&from_registry).unwrap();
    let from_github = ServerEntry {
        live: None,
        tools_unread: None,
        server: ServerRecord {
            name: "acme/notes".into(),
            stars: Some(42),
            license: Some("MIT".into()),
            sources: vec![SourceRef {
                source: "github".into(),
                id: "acme/notes".into(),
                seen_at: Some("2026-01-02T03:04:05Z".into()),
            }],
            ..ServerRecord::default()
        },
        tools: None,
    };
    assert_eq!(
        catalog.store_server(&from_github).unwrap(),
        StoreOutcome::Updated
    );
    let card = catalog.find_servers("acme/notes").unwrap().remove(0);
    assert_eq!(
        card.record.description.as_deref(),
        Some("Take notes"),
        "kept"
    );
    assert_eq!(card.record.stars, Some(42), "filled in");
    assert_eq!(
        card.record.packages,
        vec!["pkg:npm/acme-notes@1.0.0".to_owned()]
    );
    let sources: Vec<&str> = card
        .record
        .sources
        .iter()
        .map(|s| s.source.as_str())
        .collect();
    assert_eq!(sources, ["github", "registry"]);
    assert_eq!(card.tools.len(), 2, "tools: None keeps the stored tools");
    assert_eq!(card.last_seen, "2026-01-02T03:04:05Z");

    let fresh_extraction = ServerEntry {
        live: None,
        tools_unread: None,
        server: server("acme/notes"),
        tools: Some(vec![ToolEntry {
            tool: ToolDef::new("add_note", "Add a note."),
            classification: None,
        }]),
    };
    catalog.store_server(&fresh_extraction).unwrap();
    let names: Vec<String> = catalog.find_servers("notes").unwrap()[0]
        .tools
        .iter()
        .map(|card| card.tool.name.clone())
        .collect();
    assert_eq!(names, ["add_note"]);
}

#[test]
fn show_matches_hyphen_underscore_dot_and_case_variants() {
    let catalog = example_catalog();
    for query in [
        "send_message",
        "send-message",
        "Send.Message",
        "SEND_MESSAGE",
        " send_message ",
    ] {
        let hits = catalog.find_tools(query).unwrap();
        let found: Vec<(&str, &str)> = hits
            .iter()
            .map(|hit| (hit.tool.name.as_str(), hit.server.name.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                ("send_message", "io.github.example-labs/tmux-agents"),
                ("send-message", "io.github.example-org/team-chat"),
            ],
            "query {query:?}"
        );
    }
}

#[test]
fn when_no_tool_matches_server_names_are_tried_by_full_name_or_last_segment() {
    let catalog = example_catalog();
    assert!(catalog.find_tools("tmux-agents").unwrap().is_empty());
    for query in [
        "tmux-agents",
        "TMUX_AGENTS",
        "io.github.example-labs/tmux-agents",
    ] {
        let servers = catalog.find_servers(query).unwrap();
        assert_eq!(servers.len(), 1, "{query}");
        assert_eq!(servers[0].tools.len(), 6);
    }
}

#[test]
fn closest_names_are_suggested_nearest_first() {
    let catalog = example_catalog();
    let suggestions = catalog.closest_names("send_mesage", 5).unwrap();
    assert_eq!(suggestions[..2], ["send-message", "send_message"]);
    assert_eq!(
        catalog.closest_names("delete_repositry", 3).unwrap(),
        ["delete_repository"]
    );
    assert!(
        catalog
            .closest_names("zzzzzzzzzzzzzzzz", 5)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        catalog.closest_names("tmux-agent", 5).unwrap(),
        ["io.github.example-labs/tmux-agents"]
    );
}

#[test]
fn search_finds_words_in_names_and_descriptions_and_applies_filters() {
    let mut catalog = example_catalog();
    let hits = catalog
        .search(&SearchQuery {
            text: "delete".into(),
            limit: 10,
            ..SearchQuery::default()
        })
        .unwrap();
    let tools: Vec<&str> = hits.iter().map(|hit| hit.tool.as_str()).collect();
    assert!(
        tools.contains(&"delete_repository") && tools.contains(&"delete-message"),
        "{tools:?}"
    );
    assert!(
        tools.contains(&"execute_sql"),
        "matched through its description: {tools:?}"
    );

    // camelCase queries split like names do; prefixes match.
    let hits = catalog
        .search(&SearchQuery {
            text: "browserNav".into(),
            limit: 10,
            ..SearchQuery::default()
        })
        .unwrap();
    assert_eq!(hits[0].tool, "browser_navigate");

    // FTS syntax in the input is just text.
    let hits = catalog
        .search(&SearchQuery {
            text: "\"unbalanced AND OR NEAR(".into(),
            limit: 10,
            ..SearchQuery::default()
        })
        .unwrap();
    assert!(hits.is_empty());

    let delete_repo = catalog.find_tools("delete_repository").unwrap().remove(0);
    catalog
        .store_classifications(&[(
            delete_repo.tool_id,
            delete_repo.definition_hash.clone(),
            verdict(Category::Destructive, Risk::Critical),
        )])
        .unwrap();
    let filtered = |category, risk, server: Option<&str>| {
        catalog
            .search(&SearchQuery {
                text: "delete".into(),
                category,
                risk,
                server: server.map(str::to_owned),
                limit: 10,
                ..SearchQuery::default()
            })
            .unwrap()
            .into_iter()
            .map(|hit| hit.tool)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        filtered(Some(Category::Destructive), None, None),
        ["delete_repository"]
    );
    assert_eq!(
        filtered(None, Some(Risk::Critical), None),
        ["delete_repository"]
    );
    assert!(filtered(Some(Category::Read), None, None).is_empty());
    assert_eq!(filtered(None, None, Some("team-chat")), ["delete-message"]);

    let all_of_server = catalog
        .search(&SearchQuery {
            server: Some("tmux-agents".into()),
            limit: 100,
            ..SearchQuery::default()
        })
        .unwrap();
    assert_eq!(
        all_of_server.len(),
        6,
        "an empty query lists what the filters let through"
    );
}

#[test]
fn stats_count_by_category_risk_and_source() {
    let mut catalog = example_catalog();
    let card = catalog.find_tools("run_command").unwrap().remove(0);
    catalog
        .store_classifications(&[(
            card.tool_id,
            card.definition_hash,
            verdict(Category::Execute, Risk::Critical),
        )])
        .unwrap();
    let stats = catalog.stats().unwrap();
    assert_eq!((stats.servers, stats.tools, stats.classified), (8, 32, 1));
    assert!(stats.by_category.contains(&("Execute".to_owned(), 1)));
    assert!(
        stats.by_category.contains(&("Read".to_owned(), 0)),
        "every category is listed"
    );
    assert!(stats.by_risk.contains(&("Critical".to_owned(), 1)));
    assert_eq!(stats.by_source, [("import".to_owned(), 8)]);
}

#[test]
fn bad_lines_are_reported_by_number_and_good_lines_are_kept() {
    let input = [
        r#"{"name": "good/one", "tools": [{"name": "a"}]}"#,
        r#"{"name": "bad/json", "tools": [}"#,
        "",
        "# a comment",
        r#"{"name": "typo/field", "descriptoin": "x"}"#,
        r#"{"name": "  "}"#,
        r#"{"name": "dup/tools", "tools": [{"name": "a"}, {"name": "a"}]}"#,
        r#"{"name": "good/two", "tools": [{"name": "b", "confidence": 0.5}]}"#,
        r#"{"name": "bad/confidence", "tools": [{"name": "b", "confidence": 7}]}"#,
        r#"{"name": "bad/schema-type", "tools": [{"name": "b", "input_schema": "text"}]}"#,
    ]
    .join("\n");
    let mut catalog = Catalog::open_in_memory().unwrap();
    let report = catalog::import_jsonl(&mut catalog, Cursor::new(input), &NoProgress).unwrap();
    let lines: Vec<usize> = report.errors.iter().map(|error| error.line).collect();
    assert_eq!(lines, [2, 5, 6, 7, 9]);
    assert!(
        report.errors[1].message.contains("descriptoin"),
        "{:?}",
        report.errors[1]
    );
    assert!(
        report.errors[3].message.contains("listed twice"),
        "{:?}",
        report.errors[3]
    );
    // A schema that is not an object is stored as given: classifying it is a later
    // stage's job, and losing the tool would be worse.
    assert_eq!(report.stored.inserted, 3);
    assert_eq!(catalog.stats().unwrap().servers, 3);
}

#[test]
fn classifications_round_trip_through_json_lines() {
    let line = json!({
        "name": "acme/pay",
        "tools": [{
            "name": "refund",
            "description": "Refund a charge.",
            "classification": {
                "category": "Financial", "risk": "Critical",
                "signals": [{"name": "moves-money", "evidence": "Refund"}],
                "rationale": "Refunds money.", "rule_ids": ["financial-verbs"],
                "findings": [], "confidence": 0.9, "version": "abc"
            }
        }]
    });
    let mut catalog = Catalog::open_in_memory().unwrap();
    let report =
        catalog::import_jsonl(&mut catalog, Cursor::new(line.to_string()), &NoProgress).unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let card = catalog.find_tools("refund").unwrap().remove(0);
    let classification = card.classification.expect("stored");
    assert_eq!(classification.category, Category::Financial);
    assert_eq!(
        classification.signals[0].evidence.as_deref(),
        Some("Refund")
    );
    assert_eq!(catalog.tools_for_classification().unwrap().len(), 1);
}

#[test]
fn the_search_index_follows_changed_and_removed_tools() {
    let mut catalog = Catalog::open_in_memory().unwrap();
    let store = |catalog: &mut Catalog, tools: Vec<ToolDef>| {
        catalog
            .store_server(&ServerEntry {
                live: None,
                tools_unread: None,
                server: server("acme/kv"),
                tools: Some(
                    tools
                        .into_iter()
                        .map(|tool| ToolEntry {
                            tool,
                            classification: None,
                        })
                        .collect(),
                ),
            })
            .unwrap()
    };
    let search = |catalog: &Catalog, text: &str| -> Vec<String> {
        catalog
            .search(&SearchQuery {
                text: text.into(),
                limit: 10,
                ..SearchQuery::default()
            })
            .unwrap()
            .into_iter()
            .map(|hit| hit.tool)
            .collect()
    };
    store(
        &mut catalog,
        vec![
            ToolDef::new("put_value", "Store a value under a key."),
            ToolDef::new("wipe", "Erase everything."),
        ],
    );
    assert_eq!(search(&catalog, "store"), ["put_value"]);
    assert_eq!(search(&catalog, "erase"), ["wipe"]);

    store(
        &mut catalog,
        vec![ToolDef::new("put_value", "Save a value under a key.")],
    );
    assert!(
        search(&catalog, "store").is_empty(),
        "old description is no longer indexed"
    );
    assert_eq!(search(&catalog, "save"), ["put_value"]);
    assert!(
        search(&catalog, "erase").is_empty(),
        "a removed tool is no longer found"
    );
}

#[test]
fn a_catalogue_made_by_the_first_schema_is_migrated_with_its_data_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        // Exactly what a catalogue created by schema 1 holds.
        let old = rusqlite::Connection::open(&path).unwrap();
        old.execute_batch(include_str!("../../migrations/0001_init.sql"))
            .unwrap();
        old.pragma_update(None, "user_version", 1).unwrap();
        old.execute(
            "INSERT INTO servers (name, name_key, repository_url, stars, first_seen, last_seen, content_hash)
             VALUES ('acme/weather', 'acme/weather', 'https://github.com/acme/weather', 5,
                     '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z', 'old')",
            [],
        )
        .unwrap();
        old.execute(
            "INSERT INTO frontier (source, item_key, payload, state, updated_at)
             VALUES ('github', 'acme/weather', '{}', 'done', '2025-01-01T00:00:00Z')",
            [],
        )
        .unwrap();
    }
    let mut catalog = Catalog::open(&path).unwrap();
    assert_eq!(catalog.schema_version().unwrap(), SCHEMA_VERSION);
    const { assert!(SCHEMA_VERSION >= 2) };
    let card = catalog.find_servers("acme/weather").unwrap().remove(0);
    assert_eq!(card.record.stars, Some(5), "the old row is kept");
    assert_eq!(card.record.archived, None, "unknown until a source says");
    assert_eq!(card.first_seen, "2025-01-01T00:00:00Z");
    assert_eq!(
        catalog.frontier_counts().unwrap(),
        vec![("done".to_owned(), 1)]
    );
    // The new column is written, and a later sighting that does not know keeps it.
    catalog
        .store_server(&ServerEntry {
            live: None,
            tools_unread: None,
            server: ServerRecord {
                archived: Some(true),
                ..server("acme/weather")
            },
            tools: None,
        })
        .unwrap();
    catalog
        .store_server(&ServerEntry {
            live: None,
            tools_unread: None,
            server: server("acme/weather"),
            tools: None,
        })
        .unwrap();
    let card = catalog.find_servers("acme/weather").unwrap().remove(0);
    assert_eq!(card.record.archived, Some(true));
    assert_eq!(card.record.stars, Some(5));
    drop(catalog);
    // Opening again migrates nothing more.
    let catalog = Catalog::open(&path).unwrap();
    assert_eq!(catalog.schema_version().unwrap(), SCHEMA_VERSION);
}

/// A "could not read" marker is kept while sightings know nothing of the tools, replaced
/// by a newer reason, and cleared when a tool list is stored.
#[test]
fn the_could_not_read_marker_lasts_until_tools_are_stored() {
    let mut catalog = Catalog::open_in_memory().expect("in-memory catalogue");
    let marked = |reason: Option<&str>| ServerEntry {
        live: None,
        tools_unread: reason.map(str::to_owned),
        server: server("acme/openapi"),
        tools: None,
    };
    catalog
        .store_server(&marked(Some(
            "imports mcp but registers its tools dynamically",
        )))
        .unwrap();
    let card = &catalog.find_servers("acme/openapi").unwrap()[0];
    assert!(card.tools.is_empty());
    assert_eq!(
        card.tools_unread.as_deref(),
        Some("imports mcp but registers its tools dynamically")
    );
    catalog.store_server(&marked(None)).unwrap();
    let card = &catalog.find_servers("acme/openapi").unwrap()[0];
    assert!(
        card.tools_unread.is_some(),
        "a sighting without tools keeps it"
    );
    catalog
        .store_server(&ServerEntry {
            live: None,
            tools_unread: None,
            server: server("acme/openapi"),
            tools: Some(vec![ToolEntry {
                tool: ToolDef::new("get_page", "Read one page."),
                classification: None,
            }]),
        })
        .unwrap();
    let card = &catalog.find_servers("acme/openapi").unwrap()[0];
    assert_eq!(card.tools.len(), 1);
    assert_eq!(card.tools_unread, None, "a stored tool list clears it");
}
