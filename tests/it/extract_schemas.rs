//! Whole input schemas, not only property names: for the Python, Go, Rust and manifest
//! fixtures, every expected tool's `input_schema` (nested models, enums, defaults,
//! descriptions) must equal the extracted one exactly. The corpus test scores names and
//! properties per language; this one pins the type conversions end to end.

use std::path::Path;

use mcpwarden::extract::{Options, extract_dir};
use serde_json::Value;

const PREFIXES: &[&str] = &["py-", "go-", "rs-", "mcpb-"];

#[test]
fn input_schemas_equal_the_expected_ones() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/servers");
    let mut fixtures: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            PREFIXES.iter().any(|prefix| name.starts_with(prefix))
                && path.join("expected.json").is_file()
        })
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 16, "found {} fixtures", fixtures.len());

    let mut checked = 0usize;
    let mut differences = Vec::new();
    for fixture in &fixtures {
        let label = fixture.file_name().unwrap().to_string_lossy().into_owned();
        let expected: Value =
            serde_json::from_str(&std::fs::read_to_string(fixture.join("expected.json")).unwrap())
                .unwrap();
        let extraction = extract_dir(fixture, &Options::default()).unwrap();
        for tool in expected["tools"].as_array().unwrap() {
            let name = tool["name"].as_str().unwrap();
            let Some(got) = extraction.tools().find(|found| found.name == name) else {
                differences.push(format!("{label}: `{name}` not extracted"));
                continue;
            };
            checked += 1;
            if got.input_schema != tool["input_schema"] {
                differences.push(format!(
                    "{label}: `{name}` input schema\n    expected {}\n    got      {}",
                    tool["input_schema"], got.input_schema
                ));
            }
        }
    }
    for difference in &differences {
        println!("{difference}");
    }
    assert!(checked >= 60, "only {checked} tools checked");
    assert!(
        differences.is_empty(),
        "{} schemas differ",
        differences.len()
    );
}
