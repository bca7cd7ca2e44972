//! `Catalog::classify_in_chunks`, the streaming read → classify → write that `mcpwarden
//! classify` uses: it must store exactly what classifying everything at once stores,
//! whatever the chunk size, and a failure part-way must leave the catalogue as it was.

use std::path::Path;

use mcpwarden::catalog::{Catalog, ClassifyCounts, import_jsonl};
use mcpwarden::classify::RuleSet;
use mcpwarden::model::Classification;
use mcpwarden::progress::NoProgress;

fn example_catalogue(path: &Path) -> Catalog {
    let mut catalog = Catalog::open(path).expect("a catalogue");
    let file = std::fs::File::open("data/example-catalog.jsonl").expect("the example catalogue");
    let report = import_jsonl(&mut catalog, std::io::BufReader::new(file), &NoProgress)
        .expect("the example catalogue imports");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    catalog
}

/// Every stored verdict, keyed by server and tool name, in a stable order.
fn stored_verdicts(catalog: &Catalog) -> Vec<(String, String, Option<Classification>)> {
    let mut verdicts = Vec::new();
    for item in catalog.tools_for_classification().expect("tools read back") {
        for card in catalog.find_tools(&item.tool.name).expect("cards") {
            if card.tool_id == item.tool_id {
                verdicts.push((
                    item.server_name.clone(),
                    item.tool.name.clone(),
                    card.classification,
                ));
            }
        }
    }
    verdicts
}

#[test]
fn chunks_of_any_size_store_what_classifying_everything_at_once_stores() {
    let rules = RuleSet::embedded().expect("the embedded rules are valid");
    let dir = tempfile::tempdir().expect("a temp dir");

    let mut at_once = example_catalogue(&dir.path().join("at-once.db"));
    let tools = at_once.tools_for_classification().expect("tools");
    let written = at_once
        .store_classifications(&rules.classify_all(&tools))
        .expect("stored");
    assert_eq!(written, tools.len());
    let expected = stored_verdicts(&at_once);
    assert_eq!(expected.len(), 32);
    assert!(expected.iter().all(|(_, _, verdict)| verdict.is_some()));

    for chunk in [1, 3, 32, 1000] {
        let mut streamed = example_catalogue(&dir.path().join(format!("chunk-{chunk}.db")));
        let mut seen = Vec::new();
        let counts = streamed
            .classify_in_chunks(
                chunk,
                |item| rules.classify_item(item),
                |verdict| seen.push(verdict.clone()),
            )
            .expect("classified");
        assert_eq!(
            counts,
            ClassifyCounts {
                tools: 32,
                written: 32
            },
            "chunk {chunk}"
        );
        assert_eq!(seen.len(), 32);
        assert_eq!(stored_verdicts(&streamed), expected, "chunk {chunk}");

        // The same rules again change nothing.
        let again = streamed
            .classify_in_chunks(chunk, |item| rules.classify_item(item), |_| {})
            .expect("classified again");
        assert_eq!(
            again,
            ClassifyCounts {
                tools: 32,
                written: 0
            }
        );
    }
}

#[test]
fn an_empty_catalogue_classifies_nothing() {
    let rules = RuleSet::embedded().expect("the embedded rules are valid");
    let mut catalog = Catalog::open_in_memory().expect("a catalogue");
    let counts = catalog
        .classify_in_chunks(8, |item| rules.classify_item(item), |_| {})
        .expect("nothing to do is fine");
    assert_eq!(counts, ClassifyCounts::default());
}

#[test]
fn a_bad_stored_row_fails_naming_the_column_and_writes_no_verdict() {
    let rules = RuleSet::embedded().expect("the embedded rules are valid");
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("catalog.db");
    drop(example_catalogue(&path));
    // The last tool read: earlier chunks are classified and written before it is reached.
    let conn = rusqlite::Connection::open(&path).expect("open with SQLite");
    conn.execute(
        "UPDATE tools SET input_schema = '{not json' WHERE id = (SELECT max(id) FROM tools)",
        [],
    )
    .expect("corrupted");
    drop(conn);

    let mut catalog = Catalog::open(&path).expect("reopened");
    let error = catalog
        .classify_in_chunks(4, |item| rules.classify_item(item), |_| {})
        .expect_err("a row that is not JSON is an error");
    let message = format!("{error:#}");
    assert!(message.contains("tools.input_schema"), "{message}");
    // One transaction: the chunks classified before the bad row are not kept either.
    assert_eq!(catalog.stats().expect("stats").classified, 0);
}
